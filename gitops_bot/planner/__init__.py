"""Planning a change: the use case the bot (app) and the puller's plan endpoint share."""
