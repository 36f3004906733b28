"Integration tests of pmdice_nb.metrics: agreement with DeepMind's surface-distance code, and bad-input matrices."
import math, pickle
import numpy as np
import pytest
import torch
from scipy import ndimage

from pmdice_nb import metrics, surface_distance   # the NSD machinery and its cost constants live in surface_distance (02a)
from pmdice_nb.metrics import (surface_dice, case_metrics, summarize_cases, seg_metrics, confusion_matrix,
                               surfel_area_table, CaseMetricsAccumulator)
import deepmind_surface_distance as reference

TOLERANCES = (0.0, 0.5, 1.0, 1.6, 2.0, 3.7)


def reference_nsd(pred, target, tolerance, spacing):
    distances = reference.compute_surface_distances(np.asarray(target, bool), np.asarray(pred, bool), spacing)
    with np.errstate(invalid='ignore'):
        return float(reference.compute_surface_dice_at_tolerance(distances, tolerance))


def blob(shape, sigma, fraction, rng):
    "A random smooth mask covering about `fraction` of the image: Gaussian-smoothed noise, thresholded."
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field > np.quantile(field, 1 - fraction)


def random_pairs(ndim, n, seed):
    rng = np.random.default_rng(seed)
    shape = (64, 80) if ndim == 2 else (20, 36, 32)
    for _ in range(n):
        target = blob(shape, rng.uniform(1.5, 4), rng.uniform(0.1, 0.5), rng)
        kind = rng.integers(3)
        if kind == 0: pred = blob(shape, rng.uniform(1.5, 4), rng.uniform(0.1, 0.5), rng)   # unrelated blob
        elif kind == 1: pred = target ^ blob(shape, 1.0, 0.05, rng)                        # noisy copy
        else: pred = ndimage.binary_dilation(target, iterations=int(rng.integers(1, 3)))     # grown copy
        spacing = tuple(float(s) for s in rng.uniform(0.4, 2.5, ndim))
        yield pred, target, spacing


@pytest.mark.parametrize('ndim', [2, 3])
def test_surface_dice_matches_deepmind_on_random_masks(ndim):
    worst = 0.0
    for pred, target, spacing in random_pairs(ndim, 8, seed=ndim):
        for tolerance in TOLERANCES:
            ours = surface_dice(pred, target, tolerance, spacing)
            theirs = reference_nsd(pred, target, tolerance, spacing)
            worst = max(worst, abs(ours - theirs))
            assert ours == pytest.approx(theirs, abs=1e-12), (spacing, tolerance)
    assert worst < 1e-12


@pytest.mark.parametrize('spacing', [(1.0, 1.0), (1.0, 1.0, 1.0), (2.0, 1.0), (3.0, 1.0, 1.0), (1.5, 0.8, 0.8)])
def test_surface_dice_matches_deepmind_on_integer_and_paper_spacings(spacing):
    "Distances that equal the tolerance exactly (integer spacings) must be counted as DeepMind counts them."
    rng = np.random.default_rng(7)
    shape = (48, 48) if len(spacing) == 2 else (16, 24, 24)
    for _ in range(4):
        pred, target = blob(shape, 2.5, 0.3, rng), blob(shape, 2.5, 0.3, rng)
        for tolerance in (0.0, 1.0, 2.0, 3.0, math.sqrt(2), 5.0):
            assert surface_dice(pred, target, tolerance, spacing) == pytest.approx(
                reference_nsd(pred, target, tolerance, spacing), abs=1e-12)


PATHS = {'offsets one by one': dict(_NEAREST_OFFSETS=10**9),
         'boxes and lines': dict(_NEAREST_OFFSETS=0, _GAP_COST_PER_VOXEL=0, _BOX_COST=0),
         'boxes and offsets': dict(_NEAREST_OFFSETS=0, _GAP_COST_PER_VOXEL=10**9, _GATHERS_PER_VOXEL=10**12,
                                   _BOX_COST=-10**15),   # boxes always, segments never
         'distance transform after a few lookups': dict(_NEAREST_OFFSETS=0, _GATHERS_PER_VOXEL=0.5, _KDTREE_COST=10**9),
         'k-d tree after a few lookups': dict(_NEAREST_OFFSETS=0, _GATHERS_PER_VOXEL=0.5, _KDTREE_COST=0)}


@pytest.mark.parametrize('path', PATHS)
def test_every_path_matches_deepmind_at_small_and_large_tolerances(monkeypatch, path):
    "Each way of deciding d <= tau (offsets, box counts, lines along one axis, distance map) gives DeepMind's NSD."
    for name, value in PATHS[path].items(): monkeypatch.setattr(surface_distance, name, value)
    for ndim in (2, 3):
        for pred, target, spacing in random_pairs(ndim, 4, seed=20 + ndim):
            tolerances = [0.0, 1.0, 2.0, 3.7, 6.5, 12.0, 30.0]
            ours = surface_dice(pred, target, tolerances, spacing)
            for tolerance, value in zip(tolerances, ours):
                assert value == pytest.approx(reference_nsd(pred, target, tolerance, spacing), abs=1e-12), tolerance


def test_several_tolerances_in_one_call():
    "A list of tolerances gives the NSD of each, in the order given, equal to one call per tolerance."
    rng = np.random.default_rng(4)
    pred, target = blob((20, 30, 30), 3, 0.3, rng), blob((20, 30, 30), 3, 0.3, rng)
    tolerances = [5.0, 1.0, 2.0, 1.0, 0.0, math.inf, 100.0]
    values = surface_dice(pred, target, tolerances, (1.5, 0.8, 0.8))
    assert isinstance(values, np.ndarray) and values.shape == (7,)
    for tolerance, value in zip(tolerances, values):
        assert value == surface_dice(pred, target, tolerance, (1.5, 0.8, 0.8))
    assert values[5] == values[6] == 1.0 and np.all(np.diff(np.sort(values)) >= 0)
    assert isinstance(surface_dice(pred, target, 2.0), float)
    assert surface_dice(pred, target, [2.0]).shape == (1,)
    assert np.isnan(surface_dice(pred & False, target & False, [1.0, 2.0])).all()
    assert surface_dice(pred, target & False, (1.0, 2.0)).tolist() == [0.0, 0.0]
    for bad in ([], [[1.0]], [1.0, -1.0], [math.nan]):
        with pytest.raises(ValueError, match='tolerance'): surface_dice(pred, target, bad)


def test_far_apart_masks_at_large_tolerances():
    "Borders farther apart than tau everywhere: the box counts rule every surfel out, as DeepMind's distance map does."
    a = np.zeros((30, 60, 60), bool); a[2:8, 3:12, 3:12] = True
    b = np.zeros_like(a); b[20:28, 40:55, 45:58] = True
    for tolerance in (1.0, 5.0, 10.0, 20.0, 40.0, 60.0):
        assert surface_dice(a, b, tolerance, (1.5, 0.8, 0.8)) == pytest.approx(
            reference_nsd(a, b, tolerance, (1.5, 0.8, 0.8)), abs=1e-12)


def test_distance_transform_path_matches_deepmind(monkeypatch):
    "With no budget for offset lookups, every surfel is measured with the distance transform (or the k-d tree)."
    monkeypatch.setattr(surface_distance, '_GATHERS_PER_VOXEL', 0)
    monkeypatch.setattr(surface_distance, '_KDTREE_COST', 10**9)
    for ndim in (2, 3):
        for pred, target, spacing in random_pairs(ndim, 3, seed=10 + ndim):
            for tolerance in (0.0, 1.0, 2.5):
                assert surface_dice(pred, target, tolerance, spacing) == pytest.approx(
                    reference_nsd(pred, target, tolerance, spacing), abs=1e-12)


def test_distance_transform_box_reaches_beyond_the_surface(monkeypatch):
    "The other border may lie outside the box of the unmatched surfels, but within the tolerance of them."
    monkeypatch.setattr(surface_distance, '_GATHERS_PER_VOXEL', 0)
    monkeypatch.setattr(surface_distance, '_KDTREE_COST', 10**9)
    square = np.zeros((20, 20), bool); square[6:12, 5:13] = True
    cube = np.zeros((14, 16, 16), bool); cube[4:9, 5:11, 4:12] = True
    for mask, spacing in ((square, (1.0, 0.7)), (cube, (1.5, 0.8, 0.8))):
        grown = ndimage.binary_dilation(mask, iterations=2)
        for tolerance in (1.0, 1.6, 2.5, 3.1):
            for pred, target in ((grown, mask), (mask, grown)):
                assert surface_dice(pred, target, tolerance, spacing) == pytest.approx(
                    reference_nsd(pred, target, tolerance, spacing), abs=1e-9)


def test_kdtree_path_matches_deepmind(monkeypatch):
    "The k-d tree finds the nearest corner; its distance is recomputed as the distance map does, ties at tau included."
    monkeypatch.setattr(surface_distance, '_GATHERS_PER_VOXEL', 0)
    monkeypatch.setattr(surface_distance, '_KDTREE_COST', 0)
    for ndim in (2, 3):
        for pred, target, spacing in random_pairs(ndim, 3, seed=30 + ndim):
            for tolerance in (0.0, 1.0, 2.5, 9.0):
                assert surface_dice(pred, target, tolerance, spacing) == pytest.approx(
                    reference_nsd(pred, target, tolerance, spacing), abs=1e-12)
    square = np.zeros((16, 10), bool); square[3:8, 2:7] = True
    for shift, spacing in ((3, (0.35, 1.0)), (2, (1.0, 1.0)), (4, (0.8, 0.8))):
        shifted = np.roll(square, shift, axis=0)
        for tolerance in (shift * spacing[0], shift * spacing[0] * (1 - 1e-12), 5 * spacing[0]):
            assert surface_dice(shifted, square, tolerance, spacing) == pytest.approx(
                reference_nsd(shifted, square, tolerance, spacing), abs=1e-12)


def test_tolerance_equal_to_a_multiple_of_the_spacing():
    "3 * 0.35 / 0.35 < 3 in floating point, yet the distance map counts a 3-voxel offset at tolerance 3 * 0.35."
    tolerance, spacing = 3 * 0.35, (0.35, 1.0)
    square = np.zeros((16, 10), bool); square[3:8, 2:7] = True
    shifted = np.roll(square, 3, axis=0)
    expected = reference_nsd(shifted, square, tolerance, spacing)
    assert expected == pytest.approx(1.0)
    assert surface_dice(shifted, square, tolerance, spacing) == pytest.approx(expected, abs=1e-12)


def test_large_tolerance_and_infinite_tolerance():
    rng = np.random.default_rng(3)
    pred, target = blob((20, 30, 30), 3, 0.3, rng), blob((20, 30, 30), 3, 0.3, rng)
    for tolerance in (8.0, 40.0, math.inf):
        assert surface_dice(pred, target, tolerance, (1.5, 0.8, 0.8)) == pytest.approx(
            reference_nsd(pred, target, tolerance, (1.5, 0.8, 0.8)), abs=1e-12)
    assert surface_dice(pred, target, math.inf) == 1.0


@pytest.mark.parametrize('ndim', [2, 3])
def test_empty_and_tiny_masks(ndim):
    shape, spacing = ((9, 11), (1.3, 0.7)) if ndim == 2 else ((5, 9, 11), (2.0, 1.3, 0.7))
    empty = np.zeros(shape, bool)
    one = empty.copy(); one[(1,) * ndim] = True
    corner = empty.copy(); corner[(-1,) * ndim] = True                   # touches the end of every axis
    edge = empty.copy(); edge[(0,) * ndim] = True; edge[(slice(None),) + (0,) * (ndim - 1)] = True
    assert math.isnan(surface_dice(empty, empty, 1.0, spacing))
    assert math.isnan(reference_nsd(empty, empty, 1.0, spacing))
    for mask in (one, corner, edge):
        assert surface_dice(mask, empty, 1.0, spacing) == 0.0 == reference_nsd(mask, empty, 1.0, spacing)
        assert surface_dice(empty, mask, 1.0, spacing) == 0.0 == reference_nsd(empty, mask, 1.0, spacing)
        assert surface_dice(mask, mask, 0.0, spacing) == 1.0
        for other in (one, corner, edge):
            for tolerance in (0.0, 1.0, 3.0):
                assert surface_dice(mask, other, tolerance, spacing) == pytest.approx(
                    reference_nsd(mask, other, tolerance, spacing), abs=1e-9)


def test_area_tables_equal_deepmind():
    rng = np.random.default_rng(0)
    for _ in range(5):
        s3 = tuple(float(s) for s in rng.uniform(0.2, 3, 3))
        np.testing.assert_allclose(surfel_area_table(s3),
                                   reference.create_table_neighbour_code_to_surface_area(s3), rtol=1e-14, atol=0)
        s2 = s3[:2]
        np.testing.assert_array_equal(surfel_area_table(s2),
                                      reference.create_table_neighbour_code_to_contour_length(s2))


def test_surface_dice_inputs():
    mask = np.zeros((8, 8), bool); mask[2:5, 2:6] = True
    assert surface_dice(mask.astype(np.uint8), torch.tensor(mask), 0.0) == 1.0
    assert surface_dice(mask.astype(np.float32), torch.tensor(mask).double(), 0.0) == 1.0
    assert surface_dice(mask, mask, 1, spacing=np.array([1, 2])) == 1.0
    bad = [(lambda: surface_dice(mask, mask[:, :7], 1.0), 'shape'),
           (lambda: surface_dice(mask[0], mask[0], 1.0), '2D or 3D'),
           (lambda: surface_dice(mask[None, None], mask[None, None], 1.0), '2D or 3D'),
           (lambda: surface_dice(mask, mask, 1.0, spacing=(1.0,)), 'spacing'),
           (lambda: surface_dice(mask, mask, 1.0, spacing=(1.0, -1.0)), 'spacing'),
           (lambda: surface_dice(mask, mask, 1.0, spacing=(1.0, math.nan)), 'spacing'),
           (lambda: surface_dice(mask, mask, -0.5), 'tolerance'),
           (lambda: surface_dice(mask, mask, math.nan), 'tolerance'),
           (lambda: surface_dice(mask.astype(str), mask, 1.0), 'dtype')]
    for call, message in bad:
        with pytest.raises(ValueError, match=message): call()


@pytest.mark.parametrize('value', [math.nan, math.inf, -1.0, 0.5, 2.0, 255.0])
def test_surface_dice_rejects_non_binary_masks(value):
    "NaN pixels used to count as foreground (NaN != 0): every value but 0 and 1 is an error naming the value."
    mask = np.zeros((8, 8)); mask[2:5, 2:6] = 1
    bad = mask.copy(); bad[6, 6] = value
    for args in ((bad, mask), (mask, bad), (torch.tensor(bad), mask)):
        with pytest.raises(ValueError, match=f'value {value!r}'.replace('(', r'\(')): surface_dice(*args, 1.0)
    labels = (mask * 2).astype(np.int64)                       # a label map {0, 2}: threshold it first
    with pytest.raises(ValueError, match='value 2'): surface_dice(labels, mask, 1.0)


def numpy_scores(pred, target, c):
    p, t = pred == c, target == c
    tp, fp, fn = np.sum(p & t), np.sum(p & ~t), np.sum(~p & t)
    if tp + fp + fn == 0: return [math.nan] * 4
    return [2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn),
            tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0]


@pytest.mark.parametrize('shape', [(40, 50), (10, 24, 24)])
def test_case_metrics_match_numpy(shape):
    rng = np.random.default_rng(len(shape))
    spacing = (1.0, 0.5) if len(shape) == 2 else (2.5, 1.0, 1.0)
    for _ in range(4):
        target = rng.integers(0, 4, shape)
        pred = np.where(rng.random(shape) < 0.7, target, rng.integers(0, 4, shape))
        pred[pred == 3] = 0                   # class 3 never predicted
        scores = case_metrics(torch.tensor(pred), target, 4, spacing=spacing, tolerance=1.5)
        for c in (1, 2, 3):
            expected = numpy_scores(pred, target, c)
            got = [scores[k][c - 1] for k in ('dice', 'iou', 'precision', 'recall')]
            np.testing.assert_allclose(got, expected, rtol=1e-12)
            assert scores['nsd'][c - 1] == pytest.approx(
                reference_nsd(pred == c, target == c, 1.5, spacing), abs=1e-12)
        assert scores['precision'][2] == 0.0 and scores['dice'][2] == 0.0


def test_case_metrics_empty_conventions():
    target = np.zeros((6, 6), int); target[1:3, 1:3] = 1
    pred = np.zeros((6, 6), int); pred[4:6, 4:6] = 2
    scores = case_metrics(pred, target, n_classes=4)
    for key in ('dice', 'iou', 'precision', 'recall', 'nsd'):
        assert scores[key].dtype == np.float64 and scores[key].shape == (3,)
        assert scores[key][0] == 0.0 and scores[key][1] == 0.0   # present in one map only
        assert math.isnan(scores[key][2])                         # absent from both
    background_only = case_metrics(np.zeros((4, 4), int), np.zeros((4, 4), int), n_classes=2)
    assert all(math.isnan(v[0]) for v in background_only.values())
    perfect = case_metrics(target, target, n_classes=2)
    assert all(v[0] == 1.0 for v in perfect.values())


def test_case_metrics_bad_inputs():
    labels = np.zeros((5, 5), int)
    bad = [(lambda: case_metrics(labels + 2, labels, 2), 'label 2'),
           (lambda: case_metrics(labels, labels - 1, 2), 'label -1'),
           (lambda: case_metrics(labels, labels[:4], 2), 'shape'),
           (lambda: case_metrics(labels, labels, 1), 'n_classes'),
           (lambda: case_metrics(labels, labels, 2.5), 'n_classes'),
           (lambda: case_metrics(labels + 0.5, labels, 2), 'integer labels'),
           (lambda: case_metrics(labels.astype(str), labels, 2), 'dtype'),
           (lambda: case_metrics(labels, labels, 2, spacing=(1.0, 1.0, 1.0)), 'spacing'),
           (lambda: case_metrics(labels[0], labels[0], 2), '2D or 3D')]
    for call, message in bad:
        with pytest.raises(ValueError, match=message): call()
    assert case_metrics(labels[0], labels[0], 2, nsd=False)['dice'].shape == (1,)
    assert confusion_matrix(np.array([0, 1, 1]), np.array([1, 1, 0]), 2).tolist() == [[0, 1], [1, 1]]


def test_summarize_cases_averaging():
    rng = np.random.default_rng(5)
    records = []
    for _ in range(6):
        target = rng.integers(0, 3, (12, 12)); pred = rng.integers(0, 3, (12, 12))
        target[target == 2] = rng.integers(0, 2) * 2 * (target[target == 2] > 0)   # class 2 sometimes absent
        pred[target == 0] = 0
        records.append(case_metrics(pred, target, 3))
    summary = summarize_cases(records, ['background', 'a', 'b'])
    dice = np.stack([r['dice'] for r in records])
    per_class = [np.nanmean(dice[:, 0]), np.nanmean(dice[:, 1])]
    assert summary['Dice_a'] == pytest.approx(per_class[0]) and summary['Dice_b'] == pytest.approx(per_class[1])
    assert summary['mDice'] == pytest.approx(np.mean(per_class))
    assert summary['n_nan'] == int(np.isnan(dice).sum()) and summary['n_cases'] == 6
    for key, name in (('mIoU', 'iou'), ('mPrec', 'precision'), ('mRec', 'recall'), ('mNSD', 'nsd')):
        values = np.stack([r[name] for r in records])
        assert summary[key] == pytest.approx(np.mean(np.nanmean(values, 0)))
        assert 0.0 <= summary[key] <= 1.0
    no_nsd = summarize_cases([case_metrics(pred, target, 3, nsd=False)])
    assert math.isnan(no_nsd['mNSD'])
    with pytest.raises(ValueError, match='empty'): summarize_cases([])
    with pytest.raises(ValueError, match='class_names'): summarize_cases(records, ['x'])
    with pytest.raises(ValueError, match="no 'iou'"): summarize_cases([{'dice': [1.0]}])
    with pytest.raises(ValueError, match='different numbers'):
        summarize_cases([case_metrics(pred, target, 3), case_metrics(pred, target, 4)])


class FakeLearner:
    def __init__(self, pred, target): self.pred, self.yb = pred, (target,)


def test_seg_metrics_share_one_accumulator(monkeypatch):
    calls = []
    original = metrics.case_metrics
    monkeypatch.setattr(metrics, 'case_metrics', lambda *a, **k: calls.append(1) or original(*a, **k))
    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.standard_normal((6, 3, 10, 12)), dtype=torch.float32)
    targets = torch.tensor(rng.integers(0, 3, (6, 10, 12)))
    mets = seg_metrics(3, tolerance=2.0, spacing=(1.0, 0.5))
    for m in mets: m.reset()
    for i in range(0, 6, 2):
        learn = FakeLearner(logits[i:i + 2], targets[i:i + 2])
        for m in mets: m.accumulate(learn)
    assert len(calls) == 6                                    # one call per case, not per metric
    expected = summarize_cases([original(l.argmax(0), t, 3, (1.0, 0.5), 2.0) for l, t in zip(logits, targets)])
    for m in mets: assert m.value == pytest.approx(expected[m.name], nan_ok=True)
    assert pickle.loads(pickle.dumps(mets))[0].value == pytest.approx(expected['mDice'])


def test_seg_metrics_bad_inputs_and_no_nsd():
    with pytest.raises(ValueError, match='Dice_5'): seg_metrics(3, names=('Dice_5',))
    with pytest.raises(ValueError, match='n_classes'): seg_metrics(1)
    with pytest.raises(ValueError, match='tolerance'): seg_metrics(3, tolerance=-1)
    mets = seg_metrics(3, names=('mDice', 'Dice_1'))
    assert mets[0].accumulator.nsd is False
    accumulator = CaseMetricsAccumulator(3)
    with pytest.raises(ValueError, match='channels'):
        accumulator.add_batch(np.zeros((2, 4, 5, 5)), np.zeros((2, 5, 5), int))
    with pytest.raises(ValueError, match='shape'):
        accumulator.add_batch(np.zeros((2, 3, 5, 5)), np.zeros((2, 5, 4), int))
    accumulator.add_batch(np.zeros((2, 3, 4, 5, 5)), np.zeros((2, 1, 4, 5, 5), int))   # 3D cases, (N,1,...) targets
    assert accumulator.summary()['n_cases'] == 2 and accumulator.summary()['n_nan'] == 4


def test_case_metrics_at_several_tolerances():
    "A list of tolerances adds 'nsd@<tau>' per tolerance ('nsd' stays the first); one tolerance keeps the old keys."
    rng = np.random.default_rng(8)
    target = rng.integers(0, 3, (12, 20, 20)); pred = np.where(rng.random(target.shape) < 0.8, target, 0)
    spacing = (2.0, 0.8, 0.8)
    several = case_metrics(pred, target, 3, spacing, tolerance=[2, 1, 3.5])
    assert list(several) == ['dice', 'iou', 'precision', 'recall', 'nsd', 'nsd@2', 'nsd@1', 'nsd@3.5']
    for tolerance in (2, 1, 3.5):
        one = case_metrics(pred, target, 3, spacing, tolerance=tolerance)
        assert list(one) == ['dice', 'iou', 'precision', 'recall', 'nsd']
        np.testing.assert_array_equal(several[metrics.nsd_key(tolerance)], one['nsd'])
    np.testing.assert_array_equal(several['nsd'], several['nsd@2'])
    summary = summarize_cases([several, several])
    assert summary['mNSD@1'] == pytest.approx(np.mean(several['nsd@1'])) and summary['mNSD'] == summary['mNSD@2']
    assert 'mNSD@1' not in summarize_cases([case_metrics(pred, target, 3, spacing)])
    with pytest.raises(ValueError, match='tolerance'): case_metrics(pred, target, 3, tolerance=[1.0, -2.0])
    mets = seg_metrics(3, tolerance=[2.0, 1.0], names=('mDice', 'mNSD@1'))
    assert mets[0].accumulator.nsd and mets[0].accumulator.tolerance == [2.0, 1.0]
    with pytest.raises(ValueError, match='mNSD@3'): seg_metrics(3, tolerance=[2.0, 1.0], names=('mNSD@3',))
    assert metrics.nsd_key(2.0) == 'nsd@2' and metrics.nsd_key(0.5) == 'nsd@0.5'


# --- issue 17: half-precision tensors ------------------------------------------------------------------------

@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_metrics_take_half_precision_tensors(dtype):
    "Masks, label maps and logits in bf16/fp16 (mixed-precision training) score as in float32."
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 24, 20)) > 0.6
    ref = surface_dice(a, b, 2.0)
    assert surface_dice(torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype), 2.0) == ref
    assert surface_dice(torch.tensor(a, dtype=dtype), b, torch.tensor(2.0, dtype=dtype)) == ref
    labels, target = rng.integers(0, 3, (2, 16, 16))
    want = case_metrics(labels, target, 3)
    got = case_metrics(torch.tensor(labels, dtype=dtype), torch.tensor(target, dtype=dtype), 3)
    for k in want: np.testing.assert_array_equal(got[k], want[k])
    acc = CaseMetricsAccumulator(3)
    logits = torch.nn.functional.one_hot(torch.tensor(labels)[None], 3).permute(0, 3, 1, 2).to(dtype)
    acc.add_batch(logits, torch.tensor(target, dtype=dtype)[None])
    assert acc.summary()['mDice'] == summarize_cases([want])['mDice']
