"""Engine services: every write that spans rows, transactions or jobs."""
