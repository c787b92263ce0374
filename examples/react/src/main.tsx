// The page: the app under React's StrictMode, which mounts every component twice in
// development builds (this one is), to show that the hook still opens one stream per component.
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
