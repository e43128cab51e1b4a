// cel-go's sets extension as Kubernetes enables it: lists treated as sets, elements compared with
// CEL equality (so 1, 1u and 1.0 are the same element).
import { celFunc, CelScalar, listType, type CelList } from "@bufbuild/cel";
import { celEquals } from "./lists.ts";

const { BOOL, DYN } = CelScalar;
const LIST = listType(DYN);

const includesAll = (list: CelList, sublist: CelList) => [...sublist].every((x) => [...list].some((y) => celEquals(x, y)));

export const setFunctions = [
  celFunc("sets.contains", [LIST, LIST], BOOL, (list, sublist) => includesAll(list, sublist)),
  celFunc("sets.equivalent", [LIST, LIST], BOOL, (a, b) => includesAll(a, b) && includesAll(b, a)),
  celFunc("sets.intersects", [LIST, LIST], BOOL, (a, b) => [...a].some((x) => [...b].some((y) => celEquals(x, y)))),
];
