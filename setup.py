"""setuptools reads the project from pyproject.toml; this file adds the one thing TOML cannot say.

The top-level `resources/` folder (the app's non-code assets) is installed as the data-only package
`actor_trainer._resources` (pyproject's [tool.setuptools.package-dir] maps it; its package-data takes
every file), so it and its folders must be listed beside the packages found under actor_trainer/.
actor_trainer/core/resources.py finds the files there.
"""

from setuptools import find_namespace_packages, setup

RESOURCES = "actor_trainer._resources"

setup(
    packages=[
        *find_namespace_packages(include=["actor_trainer", "actor_trainer.*"]),
        RESOURCES,
        *(f"{RESOURCES}.{folder}" for folder in find_namespace_packages(where="resources")),
    ],
)
