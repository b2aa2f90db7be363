"""The `learnlab` command: thin subcommands over the lab's packages."""
