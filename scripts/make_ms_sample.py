"""Write the repository's small MS sample (data/samples/open-ms-sample) from the full 3-patient sample.

The full files (182x218x182 float32, 1 mm MNI space, ~47 MB for 3 patients) live in ../shared/data/open-ms-sample.
The repository keeps, per patient, a slab of `--slices` axial slices (the window with the most lesion voxels),
cropped in-plane to the brain's bounding box (+ a margin), with intensities rounded to LEVELS steps of
max|I| / LEVELS and stored as int16 with NIfTI's scale factor (0 outside the brain stays exactly 0). The affine is updated by nibabel's
slicer, so orientation and voxel positions in MNI space are unchanged. Usage:

    python scripts/make_ms_sample.py [SRC] [DST] [--slices 24]
"""
import argparse, glob, json, shutil
from pathlib import Path
import numpy as np
import nibabel as nib

LEVELS = 1023  # intensity steps between 0 and the largest magnitude: 10 bits, ample for a sample

def _save_scaled_int16(path:Path, steps:np.ndarray, step:float, affine:np.ndarray, like):
    "Write int16 `steps` with scl_slope=`step`, scl_inter=0 (nibabel's savers would pick their own scaling)."
    from nibabel.openers import ImageOpener
    from nibabel.volumeutils import array_to_file
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(steps.shape); hdr.set_data_dtype(np.int16)
    hdr.set_qform(affine, code=int(like['qform_code'])); hdr.set_sform(affine, code=int(like['sform_code']))
    hdr.set_xyzt_units(*like.get_xyzt_units())
    hdr.set_slope_inter(step, 0.0); hdr.set_data_offset(352)
    with ImageOpener(str(path), 'wb') as f:
        hdr.write_to(f)
        array_to_file(steps, f, np.int16, offset=352, order='F')

def shrink_patient(src:Path, dst:Path, n_slices:int, margin:int=2) -> dict:
    "Crop one patient folder; returns what was kept."
    files = sorted(src.glob('*.nii.gz'))
    gold = next(f for f in files if f.name.startswith('GOLD_STANDARD'))
    images = [f for f in files if f is not gold]
    ref = nib.load(str(gold))
    lesions = np.asarray(ref.dataobj) > 0                          # file axes (x, y, z); z is axial
    brain = np.zeros(ref.shape, bool)
    for f in images: brain |= np.asarray(nib.load(str(f)).dataobj) != 0
    per_z = np.convolve(lesions.sum((0, 1)), np.ones(n_slices, int), 'valid')
    z0 = int(np.argmax(per_z)); z1 = z0 + n_slices
    xy = np.argwhere(brain[:, :, z0:z1].any(2))
    (x0, y0), (x1, y1) = np.maximum(xy.min(0) - margin, 0), np.minimum(xy.max(0) + 1 + margin, ref.shape[:2])
    box = (slice(int(x0), int(x1)), slice(int(y0), int(y1)), slice(z0, z1))
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        img = nib.load(str(f))
        part = img.slicer[box]
        data = np.asarray(part.dataobj)
        if f is gold:
            out = nib.Nifti1Image(data.astype(np.uint8), part.affine)
        else:
            data = data.astype(np.float32)
            step = float(np.abs(data).max()) / LEVELS or 1.0
            _save_scaled_int16(dst / f.name, np.round(data / step).astype(np.int16), step, part.affine, img.header)
            continue
        out.header.set_qform(part.affine, code=int(img.header['qform_code']))
        out.header.set_sform(part.affine, code=int(img.header['sform_code']))
        nib.save(out, str(dst / f.name))
    return {'box_xyz': [[s.start, s.stop] for s in box], 'shape_xyz': list(lesions[box].shape),
            'lesion_voxels': int(lesions[box].sum()), 'lesion_voxels_full': int(lesions.sum())}

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    here = Path(__file__).resolve().parents[1]
    p.add_argument('src', nargs='?', default=str(here.parent / 'shared' / 'data' / 'open-ms-sample'))
    p.add_argument('dst', nargs='?', default=str(here / 'data' / 'samples' / 'open-ms-sample'))
    p.add_argument('--slices', type=int, default=24)
    a = p.parse_args()
    src, dst = Path(a.src), Path(a.dst)
    if src.resolve() == dst.resolve(): raise SystemExit('src and dst must differ')
    out = {}
    for patient in sorted(d for d in src.iterdir() if d.is_dir()):
        if (dst / patient.name).exists(): shutil.rmtree(dst / patient.name)
        out[patient.name] = shrink_patient(patient, dst / patient.name, a.slices)
    for name in ('LICENSE.txt',):
        if (src / name).is_file(): shutil.copy(src / name, dst / name)
    print(json.dumps(out, indent=1))

if __name__ == '__main__': main()
