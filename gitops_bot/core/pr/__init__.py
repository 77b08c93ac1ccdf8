"""Pull requests in the bot's words: the neutral model, events, ChatOps
commands, the bot's remembered state, webhook deliveries, and the ports the
use cases need from a forge."""
