"""The paper's datasets (Kvasir-SEG, ACDC, MSSEG) and synthetic stand-ins, all following `pmdice_nb.data.core`.

This file is written by hand (nbdev 2 does not create package folders' `__init__.py`); the modules beside it are
generated from nbs/03*_data.*.ipynb."""
