"""CyberOps-Bots digital twin: topology, fast simulator, scenarios, metrics."""
