"""Yichang's administrative divisions: the 13 county-level divisions and their townships.

The county codes are GB/T 2260 (copied from the project's reference data, which the project
must not read at run time); a unified social credit code issued in a county carries its code
as characters 3–8. The townships (乡镇/街道) are the real ones as far as known, for demo data
and region paths such as `宜昌市/枝江市/马家店街道`. They are not a complete gazetteer: region
paths entered by users are not checked against this list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from storage.scope import SEPARATOR

logger = logging.getLogger(__name__)

CITY = "宜昌市"


@dataclass(frozen=True)
class Division:
    """A county-level division: GB/T 2260 code, name, kind (市辖区, 县, 自治县, 县级市)."""

    code: str
    name: str
    kind: str


# In GB/T 2260 order: districts, counties, autonomous counties, county-level cities.
_COUNTIES: tuple[tuple[Division, tuple[str, ...]], ...] = (
    (
        Division("420502", "西陵区", "市辖区"),
        ("西陵街道", "学院街道", "云集街道", "西坝街道", "葛洲坝街道", "夜明珠街道", "窑湾街道", "北苑街道"),
    ),
    (
        Division("420503", "伍家岗区", "市辖区"),
        ("大公桥街道", "万寿桥街道", "宝塔河街道", "伍家岗街道", "伍家乡"),
    ),
    (
        Division("420504", "点军区", "市辖区"),
        ("点军街道", "桥边镇", "艾家镇", "联棚乡", "土城乡"),
    ),
    (
        Division("420505", "猇亭区", "市辖区"),
        ("古老背街道", "虎牙街道", "云池街道"),
    ),
    (
        Division("420506", "夷陵区", "市辖区"),
        (
            "小溪塔街道", "樟村坪镇", "雾渡河镇", "分乡镇", "太平溪镇", "三斗坪镇",
            "乐天溪镇", "龙泉镇", "鸦鹊岭镇", "黄花镇", "下堡坪乡", "邓村乡",
        ),
    ),
    (
        Division("420525", "远安县", "县"),
        ("鸣凤镇", "花林寺镇", "旧县镇", "洋坪镇", "茅坪场镇", "嫘祖镇", "河口乡"),
    ),
    (
        Division("420526", "兴山县", "县"),
        ("古夫镇", "昭君镇", "峡口镇", "南阳镇", "黄粮镇", "水月寺镇", "高桥乡"),
    ),
    (
        Division("420527", "秭归县", "县"),
        (
            "茅坪镇", "归州镇", "屈原镇", "沙镇溪镇", "两河口镇", "郭家坝镇",
            "杨林桥镇", "水田坝乡", "泄滩乡", "梅家河乡", "磨坪乡",
        ),
    ),
    (
        Division("420528", "长阳土家族自治县", "自治县"),
        (
            "龙舟坪镇", "高家堰镇", "磨市镇", "都镇湾镇", "资丘镇", "渔峡口镇",
            "榔坪镇", "贺家坪镇", "大堰乡", "鸭子口乡", "火烧坪乡",
        ),
    ),
    (
        Division("420529", "五峰土家族自治县", "自治县"),
        ("五峰镇", "渔洋关镇", "仁和坪镇", "长乐坪镇", "湾潭镇", "傅家堰乡", "牛庄乡", "采花乡"),
    ),
    (
        Division("420581", "宜都市", "县级市"),
        (
            "陆城街道", "红花套镇", "高坝洲镇", "聂家河镇", "松木坪镇", "枝城镇",
            "姚家店镇", "五眼泉镇", "王家畈镇", "潘家湾土家族乡",
        ),
    ),
    (
        Division("420582", "当阳市", "县级市"),
        ("玉阳街道", "坝陵街道", "玉泉街道", "两河镇", "河溶镇", "淯溪镇", "庙前镇", "王店镇", "半月镇", "草埠湖镇"),
    ),
    (
        Division("420583", "枝江市", "县级市"),
        ("马家店街道", "安福寺镇", "白洋镇", "顾家店镇", "董市镇", "仙女镇", "问安镇", "七星台镇", "百里洲镇"),
    ),
)

_BY_NAME: dict[str, tuple[Division, tuple[str, ...]]] = {d.name: (d, towns) for d, towns in _COUNTIES}


def counties() -> list[Division]:
    """The 13 county-level divisions, in GB/T 2260 order."""
    return [division for division, _ in _COUNTIES]


def county(name: str) -> Division:
    """The division called `name` (`枝江市`); KeyError for a name that is not a Yichang county."""
    return _BY_NAME[name][0]


def townships(county_name: str) -> list[str]:
    """The townships and streets of a county (`枝江市` -> `["马家店街道", ...]`)."""
    return list(_BY_NAME[county_name][1])


def region_path(county_name: str, township: str | None = None) -> str:
    """`宜昌市/枝江市` or `宜昌市/枝江市/马家店街道`; refuses names that are not in the list."""
    if county_name not in _BY_NAME:
        raise ValueError(f"not a county of {CITY}: {county_name}")
    if township is None:
        return SEPARATOR.join((CITY, county_name))
    if township not in _BY_NAME[county_name][1]:
        raise ValueError(f"not a township of {county_name}: {township}")
    return SEPARATOR.join((CITY, county_name, township))
