import { operatorPage } from "../../lib/ops/page/operator-page.js";

export default operatorPage();
export const config = { path: "/admin" };
