"""3D geometry for occupancy fields: marching cubes, mesh files, surface sampling and a software renderer.

Pure functions on numpy arrays, no pipeline coupling, so the 3D stages, the metrics and the previews share them."""
