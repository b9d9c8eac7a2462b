"""The local fleet: nginx + N gunicorn replicas + Redis under supervisord, configs in a run dir."""
