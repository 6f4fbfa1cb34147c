"""The `sla-bot` command line (`main`) and the App's registration flow."""
