"""Short links: models, slugs, target validation and the redirect hot path."""
