// @koa/router 14 ships no types, and @types/koa__router 15 is only a stub pointing at the types
// that @koa/router 15 ships. This covers what the tests use, typed the way @koa/router 15 is.
declare module '@koa/router' {
  import type Koa from 'koa';

  namespace Router {
    interface RouterParamContext {
      params: Record<string, string>;
    }
    type Middleware<StateT = Koa.DefaultState, ContextT = Koa.DefaultContext> = Koa.Middleware<
      StateT,
      ContextT & RouterParamContext
    >;
  }

  class Router<StateT = Koa.DefaultState, ContextT = Koa.DefaultContext> {
    constructor(options?: { prefix?: string; exclusive?: boolean });
    get(path: string, ...middleware: Array<Router.Middleware<StateT, ContextT>>): this;
    all(path: string, ...middleware: Array<Router.Middleware<StateT, ContextT>>): this;
    use(...middleware: Array<Router.Middleware<StateT, ContextT>>): this;
    routes(): Koa.Middleware<StateT, ContextT>;
    allowedMethods(): Koa.Middleware<StateT, ContextT>;
  }

  export default Router;
}
