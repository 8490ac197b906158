// The client's only ways to reach the server: the standard LangGraph API
// (threads, runs, SSE streams, Command(resume=...)) and our /files/ routes.
// Every call carries the signed-in token, and every failure becomes an ApiError
// with the server's own detail, for the UI to show.

const TOKEN_KEY = 'deepagent.token'

export class ApiError extends Error {
  constructor(status, detail, what = '') {
    super(detail || `HTTP ${status}`)
    this.status = status
    this.detail = detail || `HTTP ${status}`
    this.what = what
  }
  get isAuth() {
    return this.status === 401 || this.status === 403
  }
}

export const auth = {
  get token() {
    return localStorage.getItem(TOKEN_KEY) || ''
  },
  set token(value) {
    if (value) localStorage.setItem(TOKEN_KEY, value)
    else localStorage.removeItem(TOKEN_KEY)
  },
}

function headers(extra = {}, token = auth.token) {
  const h = { ...extra }
  if (token) h.Authorization = `Bearer ${token}`
  return h
}

async function errorDetail(response) {
  const text = await response.text().catch(() => '')
  try {
    const body = JSON.parse(text)
    const detail = body.detail ?? body.message ?? body.error ?? text
    return typeof detail === 'string' ? detail : JSON.stringify(detail)
  } catch {
    return text || response.statusText
  }
}

async function request(method, path, { body, token, raw = false, what = '' } = {}) {
  let response
  try {
    response = await fetch(path, {
      method,
      headers: headers(body !== undefined && !(body instanceof Blob) ? { 'Content-Type': 'application/json' } : {}, token),
      body: body === undefined ? undefined : body instanceof Blob ? body : JSON.stringify(body),
    })
  } catch (exc) {
    throw new ApiError(0, String(exc?.message || exc), what)
  }
  if (!response.ok) throw new ApiError(response.status, await errorDetail(response), what)
  if (raw) return response
  if (response.status === 204) return null
  const text = await response.text()
  return text ? JSON.parse(text) : null
}

// ---- threads ---------------------------------------------------------------

// langgraph dev projects the answer (`select`, `extract`: no thread values, which can be
// large); Aegra refuses any projection with 422 and never sends values anyway. So the
// client asks with the projection, and after one 422 asks without it.
let projectSearch = true

// Newest activity first: a thread moves up whenever a run or an edit touches it.
export async function searchThreads({ limit = 100, token } = {}) {
  const body = { limit, sort_by: 'updated_at', sort_order: 'desc' }
  if (projectSearch) {
    const projection = {
      select: ['thread_id', 'created_at', 'updated_at', 'status', 'metadata'],
      extract: { first_message: 'values.messages[0].content' },
    }
    try {
      return await request('POST', '/threads/search', { token, what: 'threads', body: { ...body, ...projection } })
    } catch (exc) {
      if (!(exc instanceof ApiError && exc.status === 422)) throw exc
      projectSearch = false
    }
  }
  return request('POST', '/threads/search', { token, what: 'threads', body })
}

// The title goes into the thread's metadata, which both servers store and list.
export const createThread = (title = '') =>
  request('POST', '/threads', { body: title ? { metadata: { title } } : {}, what: 'create' })
// PATCH merges the metadata: only the title changes, the owner stays (the server re-stamps it).
export const renameThread = (id, title) =>
  request('PATCH', `/threads/${id}`, { body: { metadata: { title } }, what: 'rename' })
export const deleteThread = (id) => request('DELETE', `/threads/${id}`, { what: 'delete' })
export const getThread = (id) => request('GET', `/threads/${id}`, { what: 'thread' })
export const getState = (id) => request('GET', `/threads/${id}/state`, { what: 'state' })
export const listRuns = (id) => request('GET', `/threads/${id}/runs?limit=10`, { what: 'runs' })
export const getStateAt = (id, checkpointId) => request('GET', `/threads/${id}/state/${checkpointId}`, { what: 'state' })
// Our own routes (server/thread_forks.py, server/thread_rewinds.py): the workspace follows the checkpoints.
export const forkThread = (id) => request('POST', `/thread-forks/${id}`, { what: 'fork' })
export const rewindThread = (id, checkpointId) =>
  request('POST', `/thread-rewinds/${id}`, { body: { checkpoint_id: checkpointId }, what: 'rewind' })
export const threadChanges = (id, from, to) =>
  request('GET', `/thread-changes/${id}?${new URLSearchParams(from ? { from, to } : { to })}`, { what: 'changes' })
export const getHistory = (id, limit = 500) => request('POST', `/threads/${id}/history`, { body: { limit }, what: 'state' })
export const cancelRun = (id, runId) =>
  request('POST', `/threads/${id}/runs/${runId}/cancel?action=interrupt`, { what: 'cancel' })

// ---- streaming (Server-Sent Events over fetch, so the token can go in a header) --

export const STREAM_MODES = ['messages-tuple', 'updates', 'custom']

async function* readSse(response, signal) {
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let event = { event: 'message', data: [], id: null }
  try {
    for (;;) {
      if (signal?.aborted) return
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let newline
      while ((newline = buffer.search(/\r?\n/)) >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(buffer[newline] === '\r' ? newline + 2 : newline + 1)
        if (line === '') {
          if (event.data.length) {
            const text = event.data.join('\n')
            let data
            try {
              data = JSON.parse(text)
            } catch {
              data = text
            }
            yield { event: event.event, data, id: event.id }
          }
          event = { event: 'message', data: [], id: null }
        } else if (line.startsWith(':')) {
          continue
        } else {
          const colon = line.indexOf(':')
          const field = colon < 0 ? line : line.slice(0, colon)
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
          if (field === 'event') event.event = val
          else if (field === 'data') event.data.push(val)
          else if (field === 'id') event.id = val
        }
      }
    }
  } finally {
    reader.releaseLock()
  }
}

// Start a run and stream it. `onRunId` learns the run id as soon as the server
// answers (Content-Location), so a broken connection can re-join the same run.
export async function* streamRun(threadId, payload, { signal, onRunId, onAccepted } = {}) {
  let response
  try {
    response = await fetch(`/threads/${threadId}/runs/stream`, {
      method: 'POST',
      signal,
      headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
      body: JSON.stringify({
        assistant_id: 'agent',
        stream_mode: STREAM_MODES,
        stream_resumable: true,
        stream_subgraphs: true, // a subagent's steps, shown under its task call (subagents.js)
        on_disconnect: 'continue',
        ...payload,
      }),
    })
  } catch (exc) {
    throw new ApiError(0, String(exc?.message || exc), 'run')
  }
  if (!response.ok) throw new ApiError(response.status, await errorDetail(response), 'run')
  onAccepted?.()
  const location = response.headers.get('Content-Location') || ''
  const match = location.match(/\/runs\/([^/?]+)/)
  if (match) onRunId?.(match[1])
  yield* readSse(response, signal)
}

// Re-join a run that is still going (after a reload or a lost connection).
export async function* joinRun(threadId, runId, { signal, lastEventId } = {}) {
  let response
  try {
    // No stream_mode filter: a join gets every event the run was started with.
    response = await fetch(`/threads/${threadId}/runs/${runId}/stream`, {
      signal,
      headers: headers({ Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) }),
    })
  } catch (exc) {
    throw new ApiError(0, String(exc?.message || exc), 'run')
  }
  if (!response.ok) throw new ApiError(response.status, await errorDetail(response), 'run')
  yield* readSse(response, signal)
}

// ---- workspace files (our routes, same token) ---------------------------------

const filePath = (threadId, op, path) => `/files/${threadId}/${op}?${new URLSearchParams({ path })}`

export const listFiles = (threadId, path) => request('GET', filePath(threadId, 'list', path), { what: 'list' })

export async function fetchFile(threadId, path) {
  const response = await request('GET', filePath(threadId, 'content', path), { raw: true, what: 'download' })
  return response.blob()
}

export const uploadFile = (threadId, path, blob) =>
  request('PUT', filePath(threadId, 'content', path), { body: blob, what: 'upload' })

export const deleteFile = (threadId, path) =>
  request('DELETE', filePath(threadId, 'content', path), { what: 'deleteFile' })

export const renameFile = (threadId, path, to) =>
  request('POST', `/files/${threadId}/rename?${new URLSearchParams({ path, to })}`, { what: 'rename' })

// ---- background processes (our /processes/ routes) ---------------------------

export const listProcesses = (threadId) => request('GET', `/processes/${threadId}`, { what: 'processes' })
export const processOutput = (threadId, processId, since = 0) =>
  request('GET', `/processes/${threadId}/${processId}/output?since=${since}`, { what: 'processes' })
export const stopProcess = (threadId, processId) => request('POST', `/processes/${threadId}/${processId}/stop`, { what: 'processes' })

// ---- previews (our route, same token) -----------------------------------------
// A signed link that opens the app listening on `port` in the thread's sandbox, in a tab of its own.
export const previewLink = (threadId, port) => request('POST', `/preview/${threadId}/${port}`, { what: 'preview' })

// ---- admin view (our routes, admins only: 401 without a token, 403 for other users) ----

export const adminMe = () => request('GET', '/admin/me', { what: 'admin' })
export const adminSandboxes = () => request('GET', '/admin/sandboxes', { what: 'admin' })
export const adminDisk = () => request('GET', '/admin/disk', { what: 'admin' })
export const adminAudit = (limit = 50) => request('GET', `/admin/audit?${new URLSearchParams({ limit })}`, { what: 'admin' })
export const stopSandbox = (containerId) =>
  request('POST', `/admin/sandboxes/${encodeURIComponent(containerId)}/stop`, { what: 'stopSandbox' })
