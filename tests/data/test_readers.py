"""Each raw format read into the same canonical tables: on tiny files built here and on the real datasets."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from dqrec.data.ingest import IngestConfig, ingest
from dqrec.data.readers import Format, detect_format
from tests.conftest import shared_dataset, write_files


def test_recbole_atomic_files_become_dense_ids_and_attribute_tokens(recbole_folder: Path) -> None:
    dataset = ingest(recbole_folder, IngestConfig("tiny"))

    assert dataset.source["format"] == "recbole"
    assert dataset.stats["raw"] == {"users": 3, "items": 4, "interactions": 9}
    assert sorted(dataset.interactions["user_id"].unique()) == [0, 1, 2]
    assert dataset.users["raw_id"].tolist() == ["1", "2", "3"]
    assert dataset.items["title"].tolist() == ["Toy Story", "Heat", "Casino", "Babe"]
    genres = dict(zip(dataset.items["raw_id"], dataset.items["class"], strict=True))
    vocab = dataset.vocab["item"]["class"]
    assert [vocab[t - 1] for t in genres["13"]] == ["Comedy", "Drama"]  # token k is vocab[k - 1]
    assert dataset.interactions["rating"].between(1, 5).all()


def test_grouplens_files_with_latin1_titles_and_gzip(tmp_path: Path) -> None:
    ratings = "1::20::5::978300760\n1::10::3::978302109\n2::10::4::978301968\n"
    folder = write_files(tmp_path / "gl", {
        "ratings.dat.gz": gzip.compress(ratings.encode()),
        "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
        "movies.dat": "10::Caf\xe9 Society: A Story (1995)::Comedy|Drama\n20::Heat (1995)::Action\n".encode("latin-1"),
    })
    dataset = ingest(folder, IngestConfig("gl"))

    assert detect_format(folder) is Format.GROUPLENS
    assert dataset.items["title"].tolist() == ["Café Society: A Story", "Heat"]
    assert dataset.vocab["item"]["year"] == ["1995"]
    assert [len(g) for g in dataset.items["genre"]] == [2, 1]
    assert "zip_code" in dataset.users.columns  # only known datasets drop it


def test_grouplens_100k_archive_layout(tmp_path: Path) -> None:
    flags = ["0"] * 19
    flags[1] = flags[5] = "1"  # Action, Comedy
    folder = write_files(tmp_path / "ml", {
        "u.data": "1\t2\t3\t881250949\n2\t2\t4\t881250950\n",
        "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
        "u.item": "2|GoldenEye (1995)|01-Jan-1995||http://x|" + "|".join(flags) + "\n",
    })
    dataset = ingest(folder, IngestConfig("ml"))

    assert dataset.source["format"] == "grouplens-100k"
    assert dataset.items["title"].tolist() == ["GoldenEye"]
    assert dataset.vocab["item"]["genre"] == ["Action", "Comedy"]


def test_lightgcn_keeps_the_given_train_and_test(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "lg", {"train.txt": "0 1 2 3\n1 0 2\n", "test.txt": "0 0\n1 3\n"})
    dataset = ingest(folder, IngestConfig("lg"))

    assert dataset.source["split"] == "given"
    assert dataset.interactions["source_split"].value_counts().to_dict() == {"train": 5, "test": 2}
    assert dataset.stats["source_files"]["train.txt"]["interactions"] == 5


def test_s3rec_sequences_keep_their_order_and_item_attributes(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "sq", {"Toy.txt": "1 5 3 4\n2 3 5\n",
                                           "Toy_item2attributes.json": '{"3": [1, 2], "5": [2], "4": []}'})
    dataset = ingest(folder, IngestConfig("sq"))

    first_user = dataset.interactions[dataset.interactions["user_id"] == 0]
    assert dataset.items.loc[first_user["item_id"], "raw_id"].tolist() == ["5", "3", "4"]
    assert dataset.source["split"] == "leave_one_out"
    assert dataset.stats["attribute_coverage"]["item.attribute"] == pytest.approx(2 / 3)


def test_lcrec_json_sequences_keep_their_order_and_items_their_text(tmp_path: Path) -> None:
    items = {"3": {"title": "Kit ", "description": "A relay kit.", "brand": "Supco",
                   "categories": "Industrial & Scientific,Tapes, Adhesives & Sealants"},
             "5": {"title": "Staples", "description": "", "brand": "", "categories": ""},
             "4": {"title": "Tape"}}
    folder = write_files(tmp_path / "lc", {"Toy.inter.json": '{"1": [5, 3, 4],\n "2": [3, 5]}',
                                           "Toy.item.json": json.dumps(items, indent=1)})
    dataset = ingest(folder, IngestConfig("lc"))

    assert detect_format(folder) is Format.LCREC
    first_user = dataset.interactions[dataset.interactions["user_id"] == 0]
    assert dataset.items.loc[first_user["item_id"], "raw_id"].tolist() == ["5", "3", "4"]
    assert dataset.source["split"] == "leave_one_out"
    by_raw = dataset.items.set_index("raw_id")
    assert by_raw.loc["3", "title"] == "Kit" and by_raw.loc["3", "description"] == "A relay kit."
    assert pd.isna(by_raw.loc["5", "description"])  # empty text is missing, not ""
    assert dataset.vocab["item"]["category"] == ["Adhesives & Sealants", "Industrial & Scientific", "Tapes"]
    assert dataset.vocab["item"]["brand"] == ["Supco"]
    assert set(dataset.items.columns) == {"item_id", "raw_id", "title", "description", "brand", "category"}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_users_own_tables(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"user_id": [7, 7, 8, 8], "item_id": [1, 2, 1, 3], "timestamp": [5, 6, 7, 8]})
    folder = tmp_path / "mine"
    folder.mkdir()
    if suffix == "csv":
        frame.to_csv(folder / "interactions.csv", index=False)
    else:
        frame.to_parquet(folder / "interactions.parquet", index=False)
    write_files(folder, {"items.csv": "item_id,category\n1,a|b\n2,b\n3,c\n"})
    dataset = ingest(folder, IngestConfig("mine"))

    assert dataset.source["format"] == "table"
    assert dataset.stats["interactions"] == 4
    assert dataset.vocab["item"]["category"] == ["a", "b", "c"]


# --- the real datasets: counts before the split, as published ---------------------------------------


@pytest.mark.parametrize(
    ("name", "users", "items", "interactions"),
    [
        ("ml-100k", 943, 1682, 100_000),
        ("ml-1m", 6040, 3706, 1_000_209),
        ("amazon-beauty-s3rec", 22_363, 12_101, 198_502),
        ("amazon-scientific-lcrec", 8_317, 4_344, 58_492),
    ],
)
def test_real_dataset_counts(name: str, users: int, items: int, interactions: int) -> None:
    dataset = ingest(shared_dataset(name), IngestConfig(name))

    assert dataset.stats["raw"] == {"users": users, "items": items, "interactions": interactions}
    assert all(f["matches_published"] for f in dataset.source["files"].values() if f["matches_published"]
               is not None)


def test_real_gowalla_train_file_counts() -> None:
    dataset = ingest(shared_dataset("lightgcn-gowalla"), IngestConfig("lightgcn-gowalla"))

    assert dataset.stats["source_files"]["train.txt"] == {"users": 29_858, "items": 40_981,
                                                          "interactions": 810_128}
    assert dataset.stats["source_files"]["test.txt"]["interactions"] == 217_242


def test_real_movielens_attributes_are_all_present() -> None:
    dataset = ingest(shared_dataset("ml-1m"), IngestConfig("ml-1m"))

    assert set(dataset.users.columns) == {"user_id", "raw_id", "gender", "age", "occupation"}
    assert min(dataset.stats["attribute_coverage"].values()) == 1.0
    assert "Toy Story" in dataset.items["title"].tolist()


def test_real_scientific_items_keep_their_text_and_attributes() -> None:
    dataset = ingest(shared_dataset("amazon-scientific-lcrec"), IngestConfig("amazon-scientific-lcrec"))

    assert dataset.items["title"].notna().sum() == 4_344
    assert dataset.items["description"].notna().sum() == 4_221  # SOURCE.md's count of non-empty descriptions
    coverage = dataset.stats["attribute_coverage"]
    assert coverage["item.brand"] == pytest.approx(4_332 / 4_344)
    assert coverage["item.category"] == pytest.approx(4_213 / 4_344)
