"""What the engine runs on a timer or on demand: the sweep, upkeep (retention), and the run
functions of the jobs (app/store/jobs.py): reconcile, and redelivery of missed deliveries."""
