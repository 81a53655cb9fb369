// GraphiQL at /graphql (the page comes from rest/docs.py). React, ReactDOM and
// GraphiQL are loaded before this from /static/vendor/, as globals.
"use strict";

// On a first visit this is the only tab; later visits restore the tabs that
// GraphiQL kept in localStorage, and a new tab starts with it again.
const EXAMPLE_QUERY = `# Uploaded photos, newest first, with what the recognizer saw.
query Files {
  files(first: 10) {
    totalCount
    edges {
      node {
        databaseId
        filename
        status
        thumbnailUrl
        predictions { label confidence make model bodyType year }
      }
    }
  }
}
`;

// A same-origin path: the page and the API are always served together.
const fetcher = GraphiQL.createFetcher({ url: "/graphql" });

ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultQuery: EXAMPLE_QUERY }),
);
