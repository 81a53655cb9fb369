// The GraphQL documents the page sends (see schema.graphql).

// What a card shows of a file.
const FILE_FIELDS = `
  id databaseId filename status error modelId recognizer inferenceMs thumbnailUrl width height
  verdict
  predictions { rank label confidence make model bodyType year }
  color { name }
  vehicles { box { x y width height } score kind color { name } }`;

export const FILES = `query Files($first: Int!, $after: String, $status: FileStatus, $search: String, $make: String) {
  files(first: $first, after: $after, status: $status, search: $search, make: $make) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { ${FILE_FIELDS} }
  }
}`;

export const PENDING_IDS = `query Pending($after: String) {
  files(first: 100, after: $after, status: PENDING, order: OLDEST_FIRST) {
    pageInfo { hasNextPage endCursor }
    nodes { id }
  }
}`;

// The makes the collection's best guesses name most often, for the make filter.
export const MAKES = `query Makes { stats { topMakes { make } } }`;

export const PENDING_COUNT = `query PendingCount { files(first: 0, status: PENDING) { totalCount } }`;

// Dropped photos are recognized at once, in the background (they come back QUEUED).
export const UPLOAD = `mutation Upload($file: Upload!) {
  uploadFile(file: $file, recognize: true) { file { ${FILE_FIELDS} } errors { code message } }
}`;

export const INFER = `mutation Infer($ids: [ID!]!) {
  inferFiles(ids: $ids) { files { ${FILE_FIELDS} } errors { code message index input } }
}`;

export const REPROCESS = `mutation Reprocess($id: ID!) {
  reprocessFile(id: $id) { file { ${FILE_FIELDS} } errors { code message } }
}`;

export const DELETE = `mutation Delete($id: ID!) {
  deleteFile(id: $id) { deletedId errors { code message } }
}`;

export const EVENTS = `subscription Events($ids: [ID!]) {
  fileEvents(ids: $ids) { kind id file { ${FILE_FIELDS} } }
}`;
