"""In-house Flask extensions: each a class with ``init_app`` that keeps its state in
``app.extensions``. The instances below hold no app and connect to nothing at import time."""

from flask_limiter import Limiter
from flask_wtf import CSRFProtect

from .database import db, migrate
from .json_logging import JsonLogging
from .metrics import Metrics
from .rate_limits import client_ip_key
from .redis_client import RedisClient
from .sessions import LazySessionLoginManager, RedisSessions

redis_client = RedisClient()
json_logging = JsonLogging()
metrics = Metrics()
sessions = RedisSessions()
csrf = CSRFProtect()
limiter = Limiter(client_ip_key)
login_manager = LazySessionLoginManager()

__all__ = [
    "csrf",
    "db",
    "json_logging",
    "limiter",
    "login_manager",
    "metrics",
    "migrate",
    "redis_client",
    "sessions",
]
