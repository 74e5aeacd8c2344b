"""Loopback emulators of each vendor API, strict as the vendor documents say."""
