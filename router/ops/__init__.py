"""Operations: Prometheus metrics, the admin HTTP API and its configuration, the Grafana dashboard.

Reads the live state through the backends the shell hands it; it never changes order state except
through the mutations the backend exposes.
"""
