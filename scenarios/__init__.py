"""Scenario files shipped with CyberOps-Bots (data only)."""
