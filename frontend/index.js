// The module TensorBoard imports (as /data/plugin/stuck/index.js) and whose render() it calls. The
// other modules are served under /data/plugin/stuck/static/, hence the path.
export { render } from "./static/app.js";
