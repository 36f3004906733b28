"Bad-input matrix and numerical edge cases of every loss (the lessons in nbs/01_losses.ipynb test the maths)."
import pickle, math
import pytest, torch
from pmdice_nb.losses import LOSSES, PAPER_LOSSES, get_loss, PMDiceLoss, DiceLoss, CompoundLoss

ALL = sorted(LOSSES) + [n for n in PAPER_LOSSES if '+' in n]

def data(n=2, c=3, shape=(8, 8), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, *shape, generator=g), torch.randint(0, c, (n, *shape), generator=g)

@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('bad, match', [
    (lambda x, t: (x, t[:, :4]), 'does not match'),
    (lambda x, t: (x, t.clone().fill_(3)), r'\[3\] outside \[0, 3\)'),
    (lambda x, t: (x, t - 1), r'\[-1\] outside'),
    (lambda x, t: (x.long(), t), 'float tensor'),
    (lambda x, t: (x[:, :1], t.clamp(0, 0)), 'at least 2 classes'),
    (lambda x, t: (x[0], t[0]), r'\(N, C, H, W\)'),
    (lambda x, t: (x, t.float() + 0.5), 'integer class indices'),
])
def test_bad_input_raises_clear_error(name, bad, match):
    x, t = data()
    with pytest.raises(ValueError, match=match): get_loss(name)(*bad(x, t))

@pytest.mark.parametrize('name', ALL)
def test_nan_logits_rejected_when_asked(name):
    x, t = data(); x[0, 0, 0, 0] = float('nan')
    loss = get_loss(name, check_finite=True)
    with pytest.raises(ValueError, match='NaN or Inf'): loss(x, t)

@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('shape', [(8, 8), (4, 6, 6)])
def test_finite_values_and_gradients(name, shape):
    "Extreme logits, single-class images, 2D and 3D, all reductions: finite loss and gradient."
    x, t = data(shape=shape)
    x = (x * 50).requires_grad_()            # saturated softmax
    t[0] = 0                                 # an image with only background
    loss = get_loss(name)
    v = loss(x, t); v.backward()
    assert v.ndim == 0 and torch.isfinite(v) and torch.isfinite(x.grad).all()
    loss.reduction = 'none'
    assert loss(x.detach(), t).ndim == 1
    loss.reduction = 'sum'; assert torch.isfinite(loss(x.detach(), t))

@pytest.mark.parametrize('name', ALL)
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float64])
def test_any_float_dtype_computes_in_float32(name, dtype):
    x, t = data()
    v = get_loss(name)(x.to(dtype), t)
    assert v.dtype == torch.float32
    ref = get_loss(name)(x.to(dtype).float(), t)
    assert torch.allclose(v, ref, atol=1e-6)

@pytest.mark.parametrize('name', ALL)
def test_target_layouts_and_fastai_tensors(name):
    from fastai.vision.all import TensorMask, TensorImage
    x, t = data()
    loss = get_loss(name)
    ref = loss(x, t)
    assert torch.allclose(loss(x, t[:, None]), ref)                  # (N, 1, H, W)
    assert torch.allclose(loss(TensorImage(x), TensorMask(t)), ref)   # fastai subclasses
    assert torch.allclose(loss(x, t.float()), ref)                     # integral floats
    assert torch.allclose(loss(x, t.int()), ref)
    l2 = pickle.loads(pickle.dumps(loss))
    assert torch.allclose(l2(x, t), ref)

def test_pm_dice_bad_options():
    with pytest.raises(ValueError, match='non-negative'): PMDiceLoss(gamma=float('nan'))
    with pytest.raises(ValueError, match='non-negative'): PMDiceLoss(gamma=(1., -2.))
    with pytest.raises(ValueError, match="classes must be"): PMDiceLoss(classes='some')
    with pytest.raises(ValueError, match='reduction'): PMDiceLoss(reduction='avg')
    x, t = data(c=4)
    with pytest.raises(ValueError, match='2 values .* C=4'): PMDiceLoss(gamma=(1., 2.))(x, t)

def test_get_loss_bad_names_and_options():
    with pytest.raises(ValueError, match='unknown loss'): get_loss('dice+foo')
    with pytest.raises(ValueError, match='repeated'): get_loss('dice+dice')
    with pytest.raises(ValueError, match='not a part'): get_loss('ce+dice', pm_dice=dict(gamma=2))
    with pytest.raises(ValueError, match='must be a dict'): get_loss('ce+pm_dice', pm_dice=2)
    with pytest.raises(ValueError, match='2 losses'): get_loss('ce+dice', weights=(1, 2, 3))
    with pytest.raises(ValueError, match='single loss'): get_loss('dice', weights=(1,))
    with pytest.raises(ValueError, match='non-empty'): get_loss('')

def test_ignore_index_everywhere():
    x, t = data(c=2)
    t[:, :2] = 255
    for name in ALL:
        v = get_loss(name, ignore_index=255)(x, t)
        assert torch.isfinite(v), name

def test_all_pixels_ignored_gives_zero_not_nan():
    x, t = data(c=2); t[:] = 255
    for name in ('dice', 'pm_dice', 'ce', 'topk_dice'):
        v = get_loss(name, ignore_index=255)(x, t)
        assert torch.isfinite(v), name

def test_pm_dice_matches_monai_dice_at_gamma_zero():
    monai = pytest.importorskip('monai')
    x, t = data(c=4, shape=(16, 16))
    ref = monai.losses.DiceLoss(softmax=True, to_onehot_y=True, squared_pred=True, smooth_nr=1e-6, smooth_dr=1e-6)(x, t[:, None])
    assert torch.allclose(PMDiceLoss(gamma=0, classes='all')(x, t), ref, atol=1e-6)

@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cuda_autocast_matches_cpu():
    x, t = data(c=3, shape=(32, 32))
    for name in PAPER_LOSSES:
        loss = get_loss(name)
        with torch.autocast('cuda', dtype=torch.bfloat16):
            v = loss(x.cuda().bfloat16(), t.cuda())
        assert torch.allclose(v.cpu(), loss(x.bfloat16().float(), t), atol=1e-4), name
