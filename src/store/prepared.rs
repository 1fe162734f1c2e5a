//! Fixed SQL texts that PostgreSQL keeps prepared. Diesel caches a prepared statement by the
//! query's type, and a bare `sql_query` opts out of that cache because its text could change
//! from one call to the next; the hot statements written as SQL text (data-modifying `WITH`s
//! that the query builder cannot express) would then be parsed and planned on every call.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// `query` (a `sql_query` with its binds) under the name `K`, one SQL text per name.
pub(super) struct Prepared<K, Q> {
    query: Q,
    name: PhantomData<K>,
}

/// Names `query` so that its statement is prepared once per connection. `K` must be a type
/// of its own for each SQL text: two texts under one name would share one statement.
pub(super) fn prepared<K, Q>(query: Q) -> Prepared<K, Q> {
    Prepared { query, name: PhantomData }
}

impl<K: 'static, Q> QueryId for Prepared<K, Q> {
    type QueryId = K;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<K, Q: Query> Query for Prepared<K, Q> {
    type SqlType = Q::SqlType;
}

impl<K, Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<K, Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    /// The text is fixed for `K`, whatever the binds.
    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<K, Q, Conn> RunQueryDsl<Conn> for Prepared<K, Q> {}
