"""Branded domains: more hosts for short links, each with its own slugs and fallbacks.

:mod:`.models` (the table), :mod:`.hosts` (one normal form of host names), :mod:`.registry`
(the per-process domain map routing uses), :mod:`.services` (add, change, remove),
:mod:`.views` (the host gate and the admin page), :mod:`.api` (``/api/v1/domains``) and
:mod:`.commands` (``linkfleet domains``). Nothing is imported here, so that the link cache
can import the registry without pulling the views in.
"""
