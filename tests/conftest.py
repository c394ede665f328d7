pytest_plugins = ["tests.plugin_dists"]
