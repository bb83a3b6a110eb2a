/** What a routed page gives the router: its element and how to tear it down. */
export interface View {
  el: HTMLElement;
  destroy(): void;
}
