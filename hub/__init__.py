"""Hub: ingests the wire contract, keeps alarms, routes them, serves the console."""
