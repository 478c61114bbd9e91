"""The datasets this project knows by name: their format, checksums, split protocol and value ranges.
Any other folder under the data home is read too, with its format recognised from its files."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field

from dqrec.data.readers import Format


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    formats: tuple[Format, ...]
    split: str  # the BRIEF §3 protocol: ratio | leave_one_out | given
    _: KW_ONLY
    rating_range: tuple[float, float] | None = None
    # Attributes that are nearly unique per entity (zip codes) add no pattern, only noise.
    drop_attributes: tuple[str, ...] = ()
    # Check attribute values against their documented domains (schemas.ATTRIBUTE_PATTERNS).
    check_attributes: bool = False
    # column -> values that the published files use for "unknown" there; read as missing.
    missing_markers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The entity kinds ("user", "item") whose side file the published dataset has (None: what its format
    # always ships, readers.STANDARD_SIDE_FILES); ingest refuses a copy without one unless told to skip it.
    side_files: tuple[str, ...] | None = None
    # file name -> sha256 of the published file; a local copy that differs is reported, not rejected,
    # so that a damaged file still gets a located validation error.
    sha256: dict[str, str] = field(default_factory=dict)


KNOWN_DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "ml-100k", (Format.RECBOLE, Format.GROUPLENS_100K), "ratio", rating_range=(1.0, 5.0),
            side_files=("user", "item"),
            drop_attributes=("zip_code",), check_attributes=True,
            sha256={
                "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
                "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
                "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
                "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            },
            # RecBole's ml-100k.item: item 267 is "unkonwn" (sic) throughout; item 1412's year reads "V".
            missing_markers={"title": ("unkonwn",), "release_year": ("unkonwn", "V")},
        ),
        DatasetSpec(
            "ml-1m", (Format.GROUPLENS,), "ratio", rating_range=(1.0, 5.0), side_files=("user", "item"),
            drop_attributes=("zip_code",), check_attributes=True,
            sha256={
                "ratings.dat.gz": "286bf74147e03c483e5eaef1480df636c39c538c05201ac024f3c9caddd92b58",
                "ratings.dat": "506d64ca44484487c11dc2d9a28de5c54948213e6b96285e298afe28d6ea4e0f",
                "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
            },
        ),
        DatasetSpec(
            "lightgcn-gowalla", (Format.LIGHTGCN,), "given", side_files=(),
            sha256={
                "train.txt": "7244696fdeb23911319cf7b689f2e15a3c4c92549c873a5677b44e3f13cc3e62",
                "test.txt": "099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3",
            },
        ),
        DatasetSpec(
            "amazon-beauty-s3rec", (Format.S3REC,), "leave_one_out", side_files=("item",),
            sha256={
                "Beauty.txt": "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
                "Beauty_item2attributes.json": "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
            },
        ),
        DatasetSpec(
            "amazon-scientific-lcrec", (Format.LCREC,), "leave_one_out", side_files=("item",),
            sha256={
                "Scientific.inter.json": "32c6c01876ebecebdfabd2dbd358594be36655e9e7b168772a7a3aa3624ee1b4",
                "Scientific.item.json": "ad24200106868dac2b544d812305d61a11bf07fed78b2f7cdca41d66f3418e71",
            },
        ),
    )
}

# The protocol for a folder the catalogue does not know, by what its timestamps mean.
DEFAULT_SPLIT_BY_FORMAT = {Format.LIGHTGCN: "given", Format.S3REC: "leave_one_out", Format.LCREC: "leave_one_out"}
