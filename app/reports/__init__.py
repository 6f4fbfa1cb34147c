"""What a support lead reads: the SLA report (text, CSV, JSON, HTML) and the status meeting."""
