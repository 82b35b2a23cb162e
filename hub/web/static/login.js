// Login page: paste a token; the server answers with a session cookie and a redirect.
import { applyI18n, setupLangSwitch } from "/static/common.js";

const params = new URLSearchParams(location.search);
document.getElementById("next").value = params.get("next") || "/";
const error = document.getElementById("error");
error.hidden = !params.has("error");
if (["used", "revoked"].includes(params.get("error"))) error.dataset.i18n = `login.${params.get("error")}`;
setupLangSwitch(document.getElementById("lang"));
applyI18n();
