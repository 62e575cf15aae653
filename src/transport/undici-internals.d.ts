// Types for the undici modules the transport imports one by one instead of the package index
// (see http.ts): the same objects the index re-exports.
declare module 'undici/lib/api/api-request.js' {
  const request: unknown;
  export default request;
}
declare module 'undici/lib/global.js' {
  import type { Dispatcher } from 'undici';
  const global: { getGlobalDispatcher(): Dispatcher; setGlobalDispatcher(d: Dispatcher): void };
  export default global;
}
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';
  const AgentClass: typeof Agent;
  export default AgentClass;
}
