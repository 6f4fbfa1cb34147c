"""The jobs the engine runs on a timer or on demand: the sweep, reconcile, redelivery of
missed deliveries, and upkeep (retention)."""
