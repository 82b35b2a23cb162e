// Places in words for the site plan and device health: the shared fmtPlace, and for a place it does not name
// ("fire-lane-north", "main-gate") what the place is, so that no raw config id shows in the Chinese UI.

import { fmtLocation, fmtPlace, lang, t } from "/static/common.js";

/** A device's place in words ("" when there is no word for it). */
export function placeLabel(place) {
  if (!place) return "";
  const words = fmtPlace(place);
  if (lang() === "en" || !/[A-Za-z]/.test(words)) return words;
  if (/fire-lane/.test(place)) return t("sp.fire_lane");
  if (/gate/.test(place)) return t("sp.gate");
  if (/lift/.test(place)) return t("sp.lift");
  return "";
}

/** fmtLocation with the place through placeLabel. */
export function where(loc, names) {
  const base = fmtLocation({ ...loc, place: null }, names);
  const place = placeLabel(loc.place);
  return place ? `${base}${lang() === "en" ? " · " : " "}${place}` : base;
}
