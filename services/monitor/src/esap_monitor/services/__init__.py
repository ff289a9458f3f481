"""The monitor's behaviour: tracking active jobs, polling backends, syncing with the catalog."""
