"""HA tests: a package, so each module imports its own conftest by a relative name."""
