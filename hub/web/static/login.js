// Login page: paste a token; the server answers with a session cookie and a redirect.
import { applyI18n, setupLangSwitch } from "/static/common.js";

const params = new URLSearchParams(location.search);
document.getElementById("next").value = params.get("next") || "/";
document.getElementById("error").hidden = !params.has("error");
setupLangSwitch(document.getElementById("lang"));
applyI18n();
