"""Study records to and from a GPU call: `pack` there (by bench/gpu_run.sh), `merge` here.

A GPU call returns at most 8 files, directly under its OUTDIR (or 2 folders below), each named with letters, digits,
`.`, `_` and `-` only; record paths such as `kvasir/ce+dice/seed0.json` cannot come back as they are. So `pack` puts
the records that a call added (those not committed, or differing from the committed file) into one archive,
`records.tar.gz`, with members `<study>/<dataset>/<loss>/seed<k>.json` and the study's `table.md`/`table.csv`;
`merge` takes that archive (or the OUTDIR holding it) back into `nbs/results/<study>/`:

- a record already there byte for byte is skipped; a record at a path that is committed with another configuration
  (`result_config` differs) is refused, and nothing is written; one with the same configuration but another result
  (a rerun) keeps the committed record and says so;
- members with absolute paths, `..`, hidden parts, links or anything but plain files are refused (nothing is written);
- tables are not copied: each study with new records gets its table rewritten from the merged records (`study_table`);
- it prints every record it added.

    python scripts/gpu_results.py merge OUTDIR_OR_ARCHIVE [--dest nbs/results] [--dry-run]
    python scripts/gpu_results.py pack RUNS_ROOT ARCHIVE [--committed nbs/results] [--predictions 0|1]
"""
import argparse, filecmp, io, json, os, sys, tarfile, tempfile
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = 'records.tar.gz'
MAX_PREDICTIONS = 12 * 2**20  # bytes of kept predictions an archive may carry (a returned file holds at most 16 MiB)


def _new_files(runs_root:Path, committed:Path, predictions:bool) -> tuple[list, list]:
    "(records and tables that differ from `committed`, predictions files) under `runs_root`, as relative paths."
    found, preds = [], []
    for p in sorted(runs_root.rglob('*')):
        rel = p.relative_to(runs_root)
        if not p.is_file() or p.is_symlink() or any(part.startswith('.') for part in rel.parts): continue  # locks, .work
        if 'predictions' in rel.parts:
            if predictions and p.suffix == '.npz' and not (committed / rel).is_file(): preds.append(rel)
            continue
        if p.suffix not in ('.json', '.md', '.csv'): continue
        c = committed / rel
        if not c.is_file() or not filecmp.cmp(p, c, shallow=False): found.append(rel)
    return found, preds


def pack(runs_root:str|Path, archive:str|Path, committed:str|Path='nbs/results', predictions:bool=False) -> list[str]:
    "Write the new records (and tables; kept predictions when small) under `runs_root` into `archive`, atomically."
    runs_root, archive, committed = Path(runs_root), Path(archive), Path(committed)
    files, preds = _new_files(runs_root, committed, predictions)
    size = sum((runs_root / p).stat().st_size for p in preds)
    if preds and size > MAX_PREDICTIONS:
        print(f'pack: {len(preds)} predictions files ({size / 2**20:.1f} MiB) left out: more than {MAX_PREDICTIONS / 2**20:.0f} MiB')
        preds = []
    tmp = archive.with_name(archive.name + '.part')
    with tarfile.open(tmp, 'w:gz') as tar:
        for rel in files + preds: tar.add(runs_root / rel, arcname=rel.as_posix(), recursive=False)
    os.replace(tmp, archive)
    names = [p.as_posix() for p in files + preds]
    print(f'pack: {sum(n.endswith(".json") and "/seed" in n for n in names)} new record(s) in {archive.name} '
          f'({archive.stat().st_size / 1024:.1f} KiB)')
    return names


def _archive_of(src:Path) -> Path:
    if src.is_dir():
        if not (src / ARCHIVE).is_file(): raise SystemExit(f'{src}: no {ARCHIVE} (did the GPU call finish a study?)')
        return src / ARCHIVE
    return src


def _safe_members(tar:tarfile.TarFile) -> list:
    "The archive's plain files; a `SystemExit` naming the first member that is not one or escapes the destination."
    out = []
    for m in tar.getmembers():
        p = PurePosixPath(m.name)
        bad = (m.name.startswith('/') or '\\' in m.name or p.is_absolute() or any(part in ('..', '') for part in p.parts)
               or any(part.startswith('.') for part in p.parts))
        if bad: raise SystemExit(f'refused: archive member {m.name!r} escapes the results folder or is hidden; nothing merged')
        if m.isdir(): continue
        if not m.isreg(): raise SystemExit(f'refused: archive member {m.name!r} is not a plain file (a link or a device); nothing merged')
        out.append(m)
    return out


def merge(src:str|Path, dest:str|Path|None=None, dry_run:bool=False, tables:bool=True) -> dict:
    "Merge the records of a returned OUTDIR (or its archive) into `dest` (nbs/results); returns paths by outcome."
    from pmdice_nb.records import read_record, RecordError
    from pmdice_nb.core import config_differences
    from pmdice_nb.experiments import result_config
    dest = Path(dest) if dest is not None else REPO / 'nbs' / 'results'
    out = {'added': [], 'same': [], 'kept': [], 'refused': [], 'ignored': []}
    todo = []
    with tarfile.open(_archive_of(Path(src)), 'r:*') as tar, tempfile.TemporaryDirectory() as tmp:
        for m in _safe_members(tar):
            data = tar.extractfile(m).read()
            rel, target = PurePosixPath(m.name), dest / m.name
            if len(rel.parts) < 2: out['ignored'].append(m.name); continue
            if rel.name in ('table.md', 'table.csv'): continue  # rewritten from the merged records below
            if 'predictions' in rel.parts:
                if rel.suffix == '.npz' and not target.exists(): todo.append((target, data)); out['added'].append(m.name)
                continue
            if not (rel.name.startswith('seed') and rel.suffix == '.json'): out['ignored'].append(m.name); continue
            new_path = Path(tmp) / 'new.json'; new_path.write_bytes(data)
            try: new = read_record(new_path)
            except RecordError as e: out['refused'].append(f'{m.name}: {str(e).split(": ", 1)[-1]}'); continue
            if target.is_file():
                if target.read_bytes() == data: out['same'].append(m.name); continue
                try: old = read_record(target)
                except RecordError: old = None
                if old is not None:
                    diff = config_differences(result_config(old['config'], old['dataset'], old['loss']),
                                              result_config(new['config'], new['dataset'], new['loss']))
                    if diff: out['refused'].append(f'{m.name}: its configuration differs from the committed one in {diff}'); continue
                    if old['status'] == 'done' or new['status'] != 'done': out['kept'].append(m.name); continue
            todo.append((target, data)); out['added'].append(m.name)
    if out['refused']:
        for r in out['refused']: print(f'refused {r}')
        raise SystemExit(f"{len(out['refused'])} record(s) refused; nothing merged")
    if not dry_run:
        from pmdice_nb.core import atomic_write_bytes
        for target, data in todo: target.parent.mkdir(parents=True, exist_ok=True); atomic_write_bytes(target, data)
    for a in out['added']: print(f"{'would add' if dry_run else 'added'} {dest / a}")
    for k in out['kept']: print(f'kept the committed {dest / k} (same configuration, another result: a rerun)')
    for i in out['ignored']: print(f'ignored {i}')
    print(f"{len(out['added'])} added, {len(out['same'])} already there, {len(out['kept'])} kept as committed")
    if tables and not dry_run:
        from pmdice_nb.studies import STUDIES, study_table
        for study in sorted({PurePosixPath(a).parts[0] for a in out['added']}):
            if study in STUDIES:
                study_table(study, dest / study); print(f'wrote {dest / study}/table.md')
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    m = sub.add_parser('merge', help='merge a returned OUTDIR (or its records.tar.gz) into nbs/results/<study>/')
    m.add_argument('src'); m.add_argument('--dest', default=None, help='results folder (default: nbs/results)')
    m.add_argument('--dry-run', action='store_true', help='say what would be added, write nothing')
    m.add_argument('--no-tables', action='store_true', help="don't rewrite the tables of the studies with new records")
    k = sub.add_parser('pack', help='archive the new records of a scratch runs folder (used by bench/gpu_run.sh)')
    k.add_argument('runs_root'); k.add_argument('archive')
    k.add_argument('--committed', default=str(REPO / 'nbs' / 'results'))
    k.add_argument('--predictions', type=int, default=0, choices=(0, 1))
    a = p.parse_args(argv)
    if a.cmd == 'pack': pack(a.runs_root, a.archive, a.committed, bool(a.predictions))
    else: merge(a.src, a.dest, a.dry_run, not a.no_tables)
    return 0


if __name__ == '__main__': sys.exit(main())
