"""`python -m toolkit.pretrained COMMAND`: list, download and publish the shipped models.

list [--local]              the models `toolkit.pretrained.load` knows, and where each one is
download NAME ... | --all   fetch models into the cache now (e.g. before going offline)
manifest [--check]          write toolkit/models.json from trained/ (--check: only say what is out of date)
release DIR [NAME ...]      copy the published files flat into DIR: the assets of a release
export NAME DIR [--repo OWNER/NAME]   DIR as a Keras model repository for the Hugging Face Hub
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from toolkit import pretrained
from toolkit.errors import ToolkitError
from toolkit.pretrained import publish


def _where(name: str) -> str:
    here = pretrained._local_dir()
    if here and (here / f"{name}.keras").is_file():
        return str(here / f"{name}.keras")
    entry = pretrained.manifest()["models"][name]
    keras_file = pretrained._keras_file(name, entry)
    cached = pretrained.cache_dir() / "models" / keras_file
    if cached.is_file():
        return str(cached)
    return f"not downloaded ({entry['files'][keras_file]['size'] / 2**20:.1f} MiB from {pretrained.model_url()})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolkit.pretrained", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the models load() knows, and where each is")
    listing.add_argument("--local", action="store_true", help="only those that need no download")
    download = commands.add_parser("download", help="fetch models into the cache")
    download.add_argument("names", nargs="*")
    download.add_argument("--all", action="store_true", help="every model and file in the manifest")
    manifest = commands.add_parser("manifest", help="write toolkit/models.json from trained/")
    manifest.add_argument("--check", action="store_true", help="write nothing; exit 1 when it is out of date")
    release = commands.add_parser("release", help="copy the published files flat into DIR")
    release.add_argument("dir")
    release.add_argument("names", nargs="*")
    export = commands.add_parser("export", help="DIR as a Keras model repository for the Hugging Face Hub")
    export.add_argument("name")
    export.add_argument("dir")
    export.add_argument("--repo", help="owner/name on the Hub, for the README's example")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            for name in pretrained.list(local=args.local):
                print(f"{name:28} {_where(name)}")
        elif args.command == "download":
            if not args.names and not args.all:
                parser.error("download: name the models, or give --all")
            names = pretrained.manifest()["models"] if args.all else args.names
            for name in names:
                print(pretrained.path(name))
            if args.all:
                for relative in pretrained.manifest()["files"]:
                    print(pretrained.file(relative))
        elif args.command == "manifest":
            if args.check:
                differences = publish.manifest_differences()
                for line in differences:
                    print(line)
                if differences:
                    print(f"{pretrained.MANIFEST_FILE} is out of date: run `{publish.GENERATED_BY}`.")
                    return 1
                print(f"{pretrained.MANIFEST_FILE} matches {pretrained.CHECKOUT_TRAINED}.")
            else:
                out = publish.write_manifest()
                print(f"{out}: {len(pretrained.manifest()['models'])} models from {pretrained.CHECKOUT_TRAINED}")
        elif args.command == "release":
            for file in publish.release(args.dir, args.names or None):
                print(file)
        elif args.command == "export":
            folder = publish.export(args.name, args.dir, args.repo)
            print(f"{folder}: upload it with `huggingface-cli upload {args.repo or 'OWNER/NAME'} {folder} .`")
    except ToolkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
