"""Pictures for posture reports, in one import: the network map, its attack paths, the trend.

The work lives in :mod:`twin.render_map` (map, layout, attack paths) and
:mod:`twin.render_charts` (palette, PNG output, trend chart); this module is the
public face other layers import from.
"""

from twin.render_charts import png_bytes, render_trend
from twin.render_map import MapMode, attack_paths, draw_map, map_mode, render_map

__all__ = ["MapMode", "attack_paths", "draw_map", "map_mode", "png_bytes", "render_map", "render_trend"]
