from gitops_bot.cli import main

main()
