"""DeepMind's surface-distance, the reference our `surface_dice` must equal (PyPI `surface-distance==0.1`, Apache-2.0,
github.com/deepmind/surface-distance), made importable on NumPy 2.

Its code uses `np.Inf`, which NumPy 2 removed; we restore the alias before it runs and change nothing else.
It is a development dependency (settings.ini `dev_requirements`), never a runtime one."""
import warnings
import numpy as np

if not hasattr(np, 'Inf'): np.Inf = np.inf
with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    import surface_distance
    from surface_distance import lookup_tables

def compute_surface_distances(mask_gt, mask_pred, spacing_mm):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)   # scipy.ndimage.filters / .morphology namespaces
        return surface_distance.compute_surface_distances(mask_gt, mask_pred, spacing_mm)

compute_surface_dice_at_tolerance = surface_distance.compute_surface_dice_at_tolerance
create_table_neighbour_code_to_surface_area = lookup_tables.create_table_neighbour_code_to_surface_area
create_table_neighbour_code_to_contour_length = lookup_tables.create_table_neighbour_code_to_contour_length
