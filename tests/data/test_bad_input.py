"""Every kind of bad input is refused with a message naming the file, the line or row, the column and what
was expected; all problems of a file come in one report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dqrec.data.acquire import locate_dataset
from dqrec.data.errors import MAX_PROBLEMS_COLLECTED, DataError
from dqrec.data.ingest import DuplicatePolicy, IngestConfig, MissingSideFilePolicy, UnknownIdPolicy, ingest
from tests.conftest import RECBOLE_INTER, write_files

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def ingest_inter(tmp_path: Path, content: str | bytes, **config) -> None:
    folder = write_files(tmp_path / "bad", {"bad.inter": content})
    ingest(folder, IngestConfig("bad", **config))


def problems_of(err: pytest.ExceptionInfo[DataError]) -> list[tuple[int | None, str | None, str]]:
    return [(p.line, p.column, p.expected) for p in err.value.problems]


def test_negative_and_non_integer_ids_are_located(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        ingest_inter(tmp_path, HEADER + "1\t10\t5\t100\n-3\t10\t5\t100\n2\tx7\t5\t100\n2\t1.5\t5\t100\n")

    assert problems_of(err) == [
        (3, "user_id", "a non-negative integer user id"),
        (4, "item_id", "a non-negative integer item id"),
        (5, "item_id", "a non-negative integer item id"),
    ]
    assert "bad.inter, line 3, column 'user_id': found '-3'" in err.value.report()


def test_missing_value_and_rating_out_of_range(tmp_path: Path) -> None:
    movielens = tmp_path / "ml-100k"  # a known dataset: ratings must lie in [1, 5]
    write_files(movielens, {"ml-100k.inter": HEADER + "1\t10\t9\t100\n1\t11\t\t200\n1\t12\tNaN\t300\n"})
    with pytest.raises(DataError) as err:
        ingest(movielens, IngestConfig("ml-100k"))

    assert problems_of(err) == [
        (2, "rating", "a number in [1, 5]"),
        (3, "rating", "a value (not empty)"),
        (4, "rating", "a number in [1, 5]"),
    ]


def test_missing_column_in_header(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        ingest_inter(tmp_path, "user_id:token\trating:float\n1\t5\n")

    assert problems_of(err) == [(1, "item_id", "a column 'item_id:token' in the header")]
    assert err.value.summary == "malformed header"


def test_malformed_header(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        ingest_inter(tmp_path, "user_id:token\titem_id\trating:number\n1\t2\t3\n")

    assert [p.value for p in err.value.problems][:2] == ["item_id", "rating:number"]
    assert all(p.line == 1 for p in err.value.problems)


def test_truncated_file_short_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        ingest_inter(tmp_path, HEADER + "1\t10\t5\t100\n1\t11\n")

    assert problems_of(err)[0][:2] == (3, "timestamp")
    assert "ends early" in err.value.report()


def test_truncated_file_cut_inside_the_last_field(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "gl", {"ratings.dat": "1::10::5::978300760\n1::11::3::97830"})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("gl"))

    assert problems_of(err) == [
        (2, "timestamp", "a newline at the end of the last line (the file looks truncated)")]


def test_too_many_fields(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        ingest_inter(tmp_path, HEADER + "1\t10\t5\t100\n1\t11\t5\t100\textra\n")

    assert problems_of(err)[0][0] == 3
    assert err.value.summary == "malformed line"


def test_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        ingest_inter(tmp_path, (HEADER + "1\t10\t5\t100\n").encode() + "2\t\xe9\t5\t1\n".encode("latin-1"))

    assert problems_of(err) == [(3, None, "text in utf-8")]
    assert err.value.summary == "wrong encoding"


@pytest.mark.parametrize("content", ["", "\n\n", HEADER])
def test_empty_file(tmp_path: Path, content: str) -> None:
    with pytest.raises(DataError, match="empty file"):
        ingest_inter(tmp_path, content)


def test_empty_parquet_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    pd.DataFrame({"user_id": pd.Series([], dtype="int64"), "item_id": pd.Series([], dtype="int64")}).to_parquet(
        folder / "interactions.parquet")
    with pytest.raises(DataError, match="interactions.parquet"):
        ingest(folder, IngestConfig("mine"))


def test_parquet_problems_name_the_row(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    pd.DataFrame({"user_id": [1, -2], "item_id": [3, 4]}).to_parquet(folder / "interactions.parquet")
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("mine"))

    assert "interactions.parquet, row 2, column 'user_id': found '-2'" in err.value.report()


def test_csv_missing_column(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "mine", {"interactions.csv": "user,item_id\n1,2\n"})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("mine"))

    assert problems_of(err) == [(1, "user_id", "a column named 'user_id'")]


def test_duplicate_entity_ids_in_attribute_files(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "t", {"t.inter": RECBOLE_INTER,
                                          "t.user": "user_id:token\tage:token\n1\t20\n1\t30\n"})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("t"))

    assert problems_of(err) == [(3, "user_id", "each user_id to appear once")]


DUPLICATED = HEADER + "1\t10\t5\t300\n1\t10\t4\t100\n1\t11\t5\t200\n"


def test_duplicate_interactions_refused_under_error_policy(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        ingest_inter(tmp_path, DUPLICATED, duplicates=DuplicatePolicy.ERROR)

    # The later of the two (by time) is the repeat: line 2 has timestamp 300, line 3 has 100.
    assert problems_of(err)[0][:2] == (2, "item_id")
    assert err.value.summary == "duplicate interactions"


@pytest.mark.parametrize(("policy", "kept", "dropped"),
                         [(DuplicatePolicy.FIRST, 2, 1), (DuplicatePolicy.KEEP, 3, 0)])
def test_duplicate_policies(tmp_path: Path, policy: DuplicatePolicy, kept: int, dropped: int) -> None:
    folder = write_files(tmp_path / "dup", {"dup.inter": DUPLICATED})
    dataset = ingest(folder, IngestConfig("dup", duplicates=policy))

    assert len(dataset.interactions) == kept
    assert dataset.stats["duplicates_dropped"] == dropped
    if policy is DuplicatePolicy.FIRST:
        assert dataset.interactions["timestamp"].min() == 100  # the earliest of the pair survives


def test_unknown_dataset_name(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        locate_dataset("no-such-data", tmp_path)

    assert "unknown dataset 'no-such-data'" in str(err.value)
    assert "ml-1m" in err.value.report()  # the message lists what is known


def test_unrecognised_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unrecognised dataset folder"):
        ingest(write_files(tmp_path / "odd", {"notes.md": "hello"}), IngestConfig("odd"))


def test_one_report_holds_problems_from_every_table(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "t", {"t.inter": HEADER + "1\t10\t5\t100\n-1\t10\t5\t100\n",
                                          "t.item": "item_id:token\tclass:token_seq\nabc\tDrama\n"})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("t"))

    assert {Path(p.file).name for p in err.value.problems} == {"t.inter", "t.item"}


def test_report_fits_on_a_screen_and_collecting_stops_at_the_first_problems(tmp_path: Path) -> None:
    rows = "".join(f"-{i}\t10\t5\t100\n" for i in range(500))
    with pytest.raises(DataError) as err:
        ingest_inter(tmp_path, HEADER + rows)

    assert len(err.value.problems) == MAX_PROBLEMS_COLLECTED  # the first ones, in file order
    assert [p.line for p in err.value.problems] == list(range(2, 2 + MAX_PROBLEMS_COLLECTED))
    assert err.value.total == 500
    assert len(err.value.report().splitlines()) <= 20
    assert "(500 problems)" in err.value.report() and "and 485 more" in err.value.report()


def test_a_known_dataset_in_the_wrong_format_is_refused(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "ml-1m", {"train.txt": "0 1\n", "test.txt": "0 2\n"})
    with pytest.raises(DataError, match="unexpected format for 'ml-1m'"):
        ingest(folder, IngestConfig("ml-1m"))


def test_movielens_attribute_values_are_checked_against_their_domains(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "ml-100k", {
        "ml-100k.inter": HEADER + "1\t10\t5\t100\n",
        "ml-100k.user": "user_id:token\tage:token\tgender:token\n1\t24\tX\n",
        "ml-100k.item": "item_id:token\trelease_year:token\n10\t95\n",
    })
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("ml-100k"))

    assert [(Path(p.file).name, p.line, p.column, p.value) for p in err.value.problems] == [
        ("ml-100k.item", 2, "release_year", "95"),
        ("ml-100k.user", 2, "gender", "X"),
    ]


def test_attribute_domains_are_not_imposed_on_other_datasets(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "mine", {
        "mine.inter": HEADER + "1\t10\t5\t100\n",
        "mine.user": "user_id:token\tgender:token\n1\tnonbinary\n",
    })

    assert ingest(folder, IngestConfig("mine")).vocab["user"]["gender"] == ["nonbinary"]


@pytest.mark.parametrize(
    ("inter", "line", "column", "expected"),
    [
        ('{"1": [5, 3],\n "1": [4]}', 2, None, "each key once (first on line 1)"),  # json.loads keeps the last
        ('{"1": [5, 3],\n "2": [4, "7", 2.5]}', 2, "item_id", "integer item ids"),
        ('{"1": [5, 3],\n "2": 4}', 2, "user_id", "a list of item ids"),
        ('{"1": [5, 3],\n "2": [4, -1]}', 2, "item_id", "a non-negative integer item id"),
        ('{"1": [5, 3],\n "2": [4,]}', 2, None, "a JSON value (Expecting value)"),
        ('[[5, 3]]', 1, None, "a JSON object {...} at the top level"),
    ],
)
def test_lcrec_json_problems_name_the_line(tmp_path: Path, inter: str, line: int, column: str | None,
                                            expected: str) -> None:
    folder = write_files(tmp_path / "lc", {"Bad.inter.json": inter})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("lc"))

    assert problems_of(err)[0] == (line, column, expected)
    assert "Bad.inter.json, line" in err.value.report()


def test_lcrec_item_records_must_be_objects_of_strings(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "lc", {"Bad.inter.json": '{"1": [5, 3]}',
                                           "Bad.item.json": '{"5": {"title": 7},\n "3": "Staples"}'})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("lc"))

    assert problems_of(err) == [(1, "title", "a string"),
                                (2, "item_id", "an object with title, description, brand, categories")]


# --- inconsistencies between the interaction file and the files it must agree with ----------------------------

RATINGS = "1::10::5::978300760\n1::11::3::978300761\n2::10::4::978300762\n"
USERS = "1::M::25::4::85711\n2::F::35::7::94043\n"
MOVIES = "10::Heat (1995)::Action\n11::Babe (1995)::Comedy\n12::Casino (1995)::Drama\n"


def grouplens(tmp_path: Path, **files: str) -> Path:
    named = {"ratings.dat": RATINGS, "users.dat": USERS, "movies.dat": MOVIES} | {
        name.replace("_", "."): content for name, content in files.items()}
    return write_files(tmp_path / "gl", {name: content for name, content in named.items() if content is not None})


def test_a_missing_side_file_is_refused_by_name(tmp_path: Path) -> None:
    folder = grouplens(tmp_path, users_dat=None)
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("gl"))

    assert err.value.summary == "missing side file"
    assert str(folder / "users.dat") in err.value.report()
    assert "data.missing_side_files" in err.value.report()


def test_a_missing_side_file_can_be_skipped_and_is_listed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = grouplens(tmp_path, users_dat=None)
    dataset = ingest(folder, IngestConfig("gl", missing_side_files=MissingSideFilePolicy.SKIP))

    assert dataset.stats["missing_side_files"] == ["users.dat"]
    assert list(dataset.users.columns) == ["user_id", "raw_id"]  # no attributes
    assert "users.dat: no such file" in caplog.text


def test_a_named_dataset_needs_the_side_files_it_is_published_with(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "ml-100k", {"ml-100k.inter": HEADER + "1\t10\t5\t100\n",
                                                "ml-100k.user": "user_id:token\tage:token\n1\t20\n"})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("ml-100k"))

    assert [Path(p.file).name for p in err.value.problems] == ["ml-100k.item"]


def test_ratings_naming_an_item_the_item_file_does_not_know_are_refused(tmp_path: Path) -> None:
    folder = grouplens(tmp_path, ratings_dat=RATINGS + "2::99::1::978300763\n2::98::1::978300764\n")
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("gl"))

    assert [(Path(p.file).name, p.line, p.column, p.value) for p in err.value.problems] == [
        ("ratings.dat", 4, "item_id", "99"), ("ratings.dat", 5, "item_id", "98")]
    assert "2 interactions in ratings.dat name 2 item ids that movies.dat does not know" in err.value.summary
    assert "data.unknown_ids" in err.value.report()


def test_ratings_naming_unknown_users_or_items_can_be_dropped_and_are_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = grouplens(tmp_path, ratings_dat=RATINGS + "2::99::1::978300763\n3::10::1::978300764\n")
    dataset = ingest(folder, IngestConfig("gl", unknown_ids=UnknownIdPolicy.DROP))

    assert len(dataset.interactions) == 3
    assert dataset.stats["unknown_ids_dropped"] == {"user": 1, "item": 1}
    assert dataset.stats["raw"]["interactions"] == 5
    assert "1 interaction in ratings.dat names 1 item id that movies.dat does not know" in caplog.text
    assert "e.g. 99" in caplog.text and "e.g. 3" in caplog.text


def test_side_file_entries_without_interactions_are_counted(tmp_path: Path) -> None:
    dataset = ingest(grouplens(tmp_path), IngestConfig("gl"))

    assert dataset.stats["without_interactions"] == {"user": 0, "item": 1}  # movie 12 is never rated
    assert dataset.stats["unknown_ids_dropped"] == {"user": 0, "item": 0}
    assert dataset.stats["missing_side_files"] == []


@pytest.mark.parametrize("test_file, column, value", [("0 1\n5 0\n", "user_id", "5"), ("0 1\n1 9\n", "item_id", "9")])
def test_a_given_test_split_naming_what_train_does_not_know_is_refused(tmp_path: Path, test_file: str,
                                                                        column: str, value: str) -> None:
    folder = write_files(tmp_path / "lg", {"train.txt": "0 0 2\n1 1 2\n", "test.txt": test_file})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("lg"))

    [problem] = err.value.problems
    assert (Path(problem.file).name, problem.line, problem.column, problem.value) == ("test.txt", 2, column, value)
    assert "the train split does not know" in err.value.summary


def test_a_given_test_split_naming_what_train_does_not_know_can_be_dropped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = write_files(tmp_path / "lg", {"train.txt": "0 0 2\n1 1 2\n", "test.txt": "0 1\n5 0\n1 9\n"})
    dataset = ingest(folder, IngestConfig("lg", unknown_ids=UnknownIdPolicy.DROP))

    assert dataset.stats["unknown_ids_dropped"] == {"test_user": 1, "test_item": 1}
    assert "1 interaction in test.txt names 1 user id that the train split does not know" in caplog.text
    assert "e.g. 5" in caplog.text and "e.g. 9" in caplog.text
    assert dataset.interactions["source_split"].value_counts().to_dict() == {"train": 4, "test": 1}


def test_sequence_items_the_attribute_file_does_not_know_are_refused(tmp_path: Path) -> None:
    folder = write_files(tmp_path / "lc", {"Toy.inter.json": '{"1": [5, 3],\n "2": [3, 7]}',
                                           "Toy.item.json": '{"3": {"title": "Kit"}, "5": {"title": "Tape"}}'})
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("lc"))

    [problem] = err.value.problems
    assert (Path(problem.file).name, problem.line, problem.value) == ("Toy.inter.json", 2, "7")
    assert "1 interaction in Toy.inter.json names 1 item id that Toy.item.json does not know" in err.value.summary


@pytest.mark.parametrize("delimiter, shown", [(",", "','"), ("\t", "'\\t'"), (";", "';'")])
def test_a_wrong_delimiter_is_named_from_the_first_lines(tmp_path: Path, delimiter: str, shown: str) -> None:
    folder = grouplens(tmp_path, ratings_dat=RATINGS.replace("::", delimiter) * 1000)
    with pytest.raises(DataError) as err:
        ingest(folder, IngestConfig("gl"))

    assert err.value.summary == f"wrong delimiter: found {shown} where '::' was expected"
    [problem] = err.value.problems
    assert (Path(problem.file).name, problem.line) == ("ratings.dat", 1)
