"""PubMedQA's standard split of its 1,000 expert-labelled items (PQA-L): 450 train / 50 dev / 500 test.

The test part is the release's ``test_ground_truth.json``; the dev part is fold 0 of PubMedQA's
``preprocess/split_dataset.py`` (what BLURB and the BioMedLM scripts use), the other 450 are
train (the PMIDs of ``medtasks/data/pubmedqa_labeled_train.jsonl``; a test checks both).
"""

from __future__ import annotations

# fold 0's dev PMIDs
DEV_PMIDS = frozenset({
    "8422202", "9347843", "9363529", "10354335", "11247896", "11729377", "11882828",
    "12607666", "12626177", "12836106", "15530261", "15879722", "16100194", "16249670",
    "17113061", "17444776", "17593459", "17704864", "18534072", "18670651", "18832500",
    "18843057", "19058191", "19155657", "19925761", "20156655", "20338971", "20363841",
    "21865668", "21873082", "21904069", "22211919", "22303473", "22706226", "23337545",
    "23588461", "23719685", "23774337", "23791827", "24160268", "25070942", "25156467",
    "25228241", "25251991", "25336163", "26063028", "26485091", "27491658", "27554179",
    "27581329",
})  # fmt: skip
GROUND_TRUTH = "test_ground_truth.json"  # the release's test labels, beside ori_pqal.json
