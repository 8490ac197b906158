// The client's state and everything that changes it: sign-in, threads, runs and streams.
// The thread's state on the server is the truth; streamed events only fill in
// what is happening now, and every run ends by re-reading the state.
import { reactive } from 'vue'
import * as api from './api.js'
import { kindOf, pendingInterrupts, textOf } from './messages.js'
import { t } from './i18n.js'
import { errorText } from './errorText.js'
import { subagentEvent } from './subagents.js'
import { setDraft } from './drafts.js'

export const store = reactive({
  phase: 'loading', // loading | signin | ready
  authRequired: false,
  isAdmin: false, // the admin view's entry shows only for admins (GET /admin/me)
  signInError: '',
  threads: [],
  threadId: null,
  messages: [],
  interrupts: [],
  running: false,
  runId: null,
  runError: '',
  runStopped: false,
  connectionLost: false,
  terminals: {}, // tool_call_id -> { output, done }
  subagents: {}, // task tool_call_id -> the subagent's messages (see subagents.js)
  history: [], // the thread's checkpoints, newest first (branches.js)
  shownCheckpoint: null, // the branch shown when it is not the thread's latest one
  notices: [],
  filesVersion: 0,
})

let noticeSeq = 0
export function notify(text, color = 'error') {
  store.notices.push({ id: ++noticeSeq, text, color })
}

export function describeError(exc) {
  if (exc instanceof api.ApiError) {
    if (exc.status === 0) return t('serverUnreachable', { detail: exc.detail })
    const detail = `${exc.detail} (HTTP ${exc.status})`
    return exc.what ? t('requestFailed', { what: t(`what_${exc.what}`), detail }) : detail
  }
  return String(exc?.message || exc)
}

function handleError(exc) {
  if (exc instanceof api.ApiError && exc.isAuth && store.authRequired) {
    store.phase = 'signin'
    store.signInError = t('tokenRefused', { detail: exc.detail })
    return
  }
  notify(describeError(exc))
}

// ---- sign-in ------------------------------------------------------------------

// Single-user servers answer without a token: then there is no sign-in at all.
export async function start() {
  try {
    await api.searchThreads({ limit: 1, token: '' })
    store.authRequired = false
    api.auth.token = ''
    store.phase = 'ready'
    await afterSignIn()
    return
  } catch (exc) {
    if (!(exc instanceof api.ApiError && exc.isAuth)) {
      store.phase = 'signin'
      store.signInError = describeError(exc)
      return
    }
  }
  store.authRequired = true
  if (api.auth.token) await signIn(api.auth.token)
  else store.phase = 'signin'
}

export async function signIn(token) {
  store.signInError = ''
  try {
    await api.searchThreads({ limit: 1, token })
  } catch (exc) {
    store.phase = 'signin'
    store.signInError = exc instanceof api.ApiError && exc.isAuth ? t('tokenRefused', { detail: exc.detail }) : describeError(exc)
    return false
  }
  api.auth.token = token
  store.phase = 'ready'
  await afterSignIn()
  return true
}

export function signOut() {
  stopStreaming()
  api.auth.token = ''
  Object.assign(store, { phase: 'signin', isAdmin: false, threads: [], threadId: null, messages: [], interrupts: [], terminals: {} })
}

async function afterSignIn() {
  // An older server without the admin routes, or any failure, simply shows no admin entry.
  api.adminMe().then((me) => (store.isAdmin = Boolean(me?.admin)), () => (store.isAdmin = false))
  await loadThreads()
  const wanted = new URLSearchParams(location.hash.slice(1)).get('thread')
  if (wanted && store.threads.some((th) => th.thread_id === wanted)) await openThread(wanted)
}

// ---- threads --------------------------------------------------------------------

export function titleOf(thread) {
  // Our client's own title first, then what each server can tell: langgraph dev's extract, Aegra's thread_name.
  const first = thread?.extracted?.first_message ?? thread?.values?.messages?.[0]?.content
  const text = textOf(thread?.metadata?.title || first || thread?.metadata?.thread_name).trim()
  return text ? text.split('\n')[0].slice(0, 60) : t('untitled')
}

// Last activity first, whatever order the server answered in.
const activity = (thread) => Date.parse(thread?.updated_at || thread?.created_at || '') || 0

export async function loadThreads() {
  try {
    const threads = (await api.searchThreads()) || []
    store.threads = threads.sort((a, b) => activity(b) - activity(a))
  } catch (exc) {
    handleError(exc)
  }
}

// Whether the server took the new title (the list is re-read from it either way).
export async function renameThread(id, title) {
  const text = title.trim()
  if (!text) return false
  try {
    await api.renameThread(id, text)
  } catch (exc) {
    handleError(exc)
    return false
  } finally {
    await loadThreads()
  }
  return true
}

function rememberThread(id) {
  history.replaceState(null, '', id ? `#thread=${encodeURIComponent(id)}` : location.pathname)
}

export async function openThread(id) {
  stopStreaming()
  Object.assign(store, { threadId: id, messages: [], interrupts: [], history: [], shownCheckpoint: null, terminals: {}, runError: '', runStopped: false, running: false, runId: null })
  rememberThread(id)
  await refreshState()
  await showLastOutcome(id)
  store.filesVersion++
  await rejoinIfRunning(id)
}

export function newThread() {
  stopStreaming()
  Object.assign(store, { threadId: null, messages: [], interrupts: [], history: [], shownCheckpoint: null, terminals: {}, runError: '', runStopped: false, running: false, runId: null })
  rememberThread(null)
}

export async function removeThread(id) {
  try {
    await api.deleteThread(id)
  } catch (exc) {
    handleError(exc)
    return
  }
  if (store.threadId === id) newThread()
  await loadThreads()
}

// The error a failed step left in the thread's saved state (`tasks[].error`), if any.
let lastStateError = ''

function taskError(state) {
  for (const task of state?.tasks || []) {
    const error = task?.error
    if (!error) continue
    return errorText(error)
  }
  return ''
}

async function refreshState() {
  const id = store.threadId
  if (!id) return
  try {
    const state = await api.getState(id)
    if (store.threadId !== id) return
    store.messages = state?.values?.messages || []
    store.interrupts = pendingInterrupts(state)
    store.shownCheckpoint = null
    lastStateError = taskError(state)
    const history = store.messages.length ? await api.getHistory(id) : []
    if (store.threadId === id) store.history = history || []
  } catch (exc) {
    handleError(exc)
  }
}

// ---- branches (branches.js) -------------------------------------------------------

// Show another version of a past message: the newest checkpoint of that branch.
export async function showBranch(leaf) {
  if (store.running || !leaf) return
  if (leaf.checkpoint?.checkpoint_id === store.history[0]?.checkpoint?.checkpoint_id) {
    await refreshState()
    return
  }
  Object.assign(store, { shownCheckpoint: leaf.checkpoint.checkpoint_id, messages: leaf.values?.messages || [], interrupts: [] })
  Object.assign(store, { runError: '', runStopped: false })
}

// Send `text` in place of a past message: a new run from the checkpoint that message's run began at.
export async function editMessage(messageId, forkFrom, text) {
  const content = text.trim()
  if (!content || store.running || !store.threadId) return false
  const at = store.messages.findIndex((m) => m.id === messageId)
  if (at < 0) return false
  const before = store.messages
  store.messages = [...before.slice(0, at), { type: 'human', content, id: `local-${Date.now()}` }]
  store.interrupts = []
  const started = await startRun(store.threadId, { input: { messages: [{ role: 'user', content }] }, checkpoint_id: forkFrom })
  if (!started) store.messages = before
  return started
}

// ---- rewind and fork: the workspace follows the checkpoints (docs/checkpoints.md) --------------

// Go back to checkpoint `at` (the one before a message): its files now, its conversation shown,
// and the message back in the box, so sending continues from there.
export async function rewindTo(at, text) {
  const id = store.threadId
  if (!id || !at || store.running) return false
  try {
    await api.rewindThread(id, at)
    const state = await api.getStateAt(id, at)
    if (store.threadId !== id) return false
    Object.assign(store, { shownCheckpoint: at, messages: state?.values?.messages || [], interrupts: [], runError: '', runStopped: false })
    setDraft(id, text || '')
    store.filesVersion++
    notify(t('rewound'), 'success')
    return true
  } catch (exc) {
    handleError(exc)
    return false
  }
}

// The same in a new thread: the whole thread (checkpoints, files, snapshots) is copied, then rewound.
export async function forkAt(at, text) {
  const id = store.threadId
  if (!id || !at || store.running) return false
  let copy
  try {
    copy = (await api.forkThread(id)).thread_id
  } catch (exc) {
    handleError(exc)
    return false
  }
  await loadThreads()
  await openThread(copy)
  return rewindTo(at, text)
}

// How the thread's last run ended, from the server's record of it, so a reload still
// shows a stopped or failed run (streamed events are gone by then).
async function showLastOutcome(id) {
  try {
    const runs = (await api.listRuns(id)) || []
    const last = runs.reduce((a, b) => (!a || String(b.created_at) > String(a.created_at) ? b : a), null)
    if (store.threadId !== id || !last) return
    if (last.status === 'interrupted') store.runStopped = true
    else if (last.status === 'error' || last.status === 'timeout')
      store.runError = t('runFailed', { detail: lastStateError || last.status })
  } catch (exc) {
    handleError(exc)
  }
}

async function rejoinIfRunning(id) {
  try {
    const thread = await api.getThread(id)
    if (thread?.status !== 'busy') return
    const runs = (await api.listRuns(id)) || []
    const live = runs.find((run) => run.status === 'running' || run.status === 'pending')
    if (live && store.threadId === id) await follow(id, live.run_id, () => api.joinRun(id, live.run_id, { signal: controller?.signal }))
  } catch (exc) {
    handleError(exc)
  }
}

// ---- runs -----------------------------------------------------------------------

let controller = null

function stopStreaming() {
  controller?.abort()
  controller = null
}

// The current thread, created on the server first when the user has not started one yet.
export async function ensureThread(title = '') {
  if (store.threadId) return store.threadId
  try {
    const id = (await api.createThread(title.split('\n')[0].slice(0, 200))).thread_id
    store.threadId = id
    rememberThread(id)
    await loadThreads()
    return id
  } catch (exc) {
    handleError(exc)
    return null
  }
}

// Whether the server accepted the run: when it did not, the message is taken back off the screen.
export async function send(text) {
  const content = text.trim()
  if (!content || store.running) return false
  const id = await ensureThread(content)
  if (!id) return false
  const local = { type: 'human', content, id: `local-${Date.now()}` }
  store.messages = [...store.messages, local]
  // On an older branch, the message continues that branch.
  const from = store.shownCheckpoint ? { checkpoint_id: store.shownCheckpoint } : {}
  const started = await startRun(id, { input: { messages: [{ role: 'user', content }] }, ...from })
  if (!started) store.messages = store.messages.filter((m) => m !== local && m.id !== local.id)
  if (store.phase === 'ready') await loadThreads()
  return started
}

export async function resume(value) {
  if (!store.threadId || store.running) return
  store.interrupts = []
  await startRun(store.threadId, { command: { resume: value } })
}

let stopRequested = false

export async function stop() {
  if (store.threadId && store.runId) {
    stopRequested = true
    try {
      await api.cancelRun(store.threadId, store.runId)
    } catch (exc) {
      stopRequested = false
      handleError(exc)
    }
  }
}

async function startRun(threadId, payload) {
  stopStreaming()
  controller = new AbortController()
  const signal = controller.signal
  let runId = null
  let accepted = false
  await follow(threadId, null, () =>
    api.streamRun(threadId, payload, { signal, onAccepted: () => { accepted = true; loadThreads() }, onRunId: (rid) => { runId = rid; store.runId = rid } }),
  () => runId)
  return accepted
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Consume a run's stream; when the connection drops, re-join the same run until it ends.
async function follow(threadId, knownRunId, open, currentRunId = () => knownRunId) {
  if (!controller) controller = new AbortController()
  const signal = controller.signal
  stopRequested = false
  Object.assign(store, { running: true, runId: knownRunId, runError: '', runStopped: false, connectionLost: false })
  let lastEventId = null
  let stream = open()
  let attempt = 0
  try {
    for (;;) {
      try {
        for await (const part of stream) {
          if (signal.aborted) return
          if (part.id) lastEventId = part.id
          if (store.connectionLost) {
            store.connectionLost = false
            notify(t('reconnected'), 'success')
          }
          attempt = 0
          handleEvent(part)
        }
        break // the stream ended normally
      } catch (exc) {
        if (signal.aborted) return
        if (exc instanceof api.ApiError && exc.status !== 0) throw exc
        const runId = currentRunId() || store.runId
        if (!runId) throw exc
        // The connection dropped: the run keeps going on the server; re-join it.
        if (!store.connectionLost) notify(t('connectionLost'), 'warning')
        store.connectionLost = true
        attempt++
        await sleep(Math.min(1000 * 2 ** Math.min(attempt - 1, 4), 15000))
        if (signal.aborted) return
        try {
          const runs = (await api.listRuns(threadId)) || []
          const run = runs.find((r) => r.run_id === runId)
          if (run && run.status !== 'running' && run.status !== 'pending') {
            if (run.status === 'error') store.runError = t('runFailed', { detail: run.status })
            break
          }
        } catch (probe) {
          if (probe instanceof api.ApiError && probe.status !== 0) throw probe
          continue
        }
        stream = api.joinRun(threadId, runId, { signal, lastEventId })
      }
    }
  } catch (exc) {
    if (!signal.aborted) handleError(exc)
  } finally {
    if (!signal.aborted && store.threadId === threadId) {
      store.running = false
      if (stopRequested) Object.assign(store, { runStopped: true, runError: '' })
      stopRequested = false
      if (store.connectionLost) {
        store.connectionLost = false
        notify(t('reconnected'), 'success')
      }
      await refreshState()
      store.filesVersion++
      if (store.phase === 'ready') loadThreads() // the thread's status and last activity changed
      for (const term of Object.values(store.terminals)) term.done = true
    }
  }
}

function upsert(message) {
  const index = store.messages.findIndex((m) => m.id && m.id === message.id)
  if (index >= 0) store.messages.splice(index, 1, { ...store.messages[index], ...message })
  else store.messages.push(message)
}

function appendChunk(chunk) {
  if (!chunk?.id) return
  const index = store.messages.findIndex((m) => m.id === chunk.id)
  const delta = textOf(chunk.content)
  if (index < 0) {
    store.messages.push({ type: 'ai', id: chunk.id, content: delta, tool_calls: [], streaming: true })
    return
  }
  const current = store.messages[index]
  if (!current.streaming) return // the complete message already arrived
  store.messages.splice(index, 1, { ...current, content: textOf(current.content) + delta })
}

function handleEvent({ event, data }) {
  const [name, namespace] = String(event).split('|')
  if (subagentEvent(store, name, namespace, data)) return
  if (name === 'metadata' && data?.run_id) store.runId = data.run_id
  else if (name === 'messages') {
    const [message] = Array.isArray(data) ? data : [data]
    if (!message) return
    const kind = kindOf(message)
    if (kind === 'ai' && String(message.type).endsWith('Chunk')) appendChunk(message)
    else if (kind === 'tool' || kind === 'ai') upsert({ ...message, streaming: false })
  } else if (name === 'updates') {
    for (const [node, update] of Object.entries(data || {})) {
      if (node === '__interrupt__') {
        store.interrupts = (update || []).map((item, index) => ({ id: item.id || String(index), value: item.value ?? item }))
        continue
      }
      for (const message of update?.messages || []) {
        if (kindOf(message) === 'human') continue
        upsert({ ...message, streaming: false })
      }
    }
  } else if (name === 'custom') {
    liveOutput(data)
  } else if (name === 'error') {
    if (data?.error === 'UserInterrupt') {
      store.runStopped = true
      return
    }
    store.runError = t('runFailed', { detail: errorText(data) })
  }
}

// Live command output from `execute` (custom stream events carrying the tool call id).
// Shape (docs/api.md, "Live command output"): {"type": "execute_output", "tool_call_id": ..., "chunk": ...}.
function liveOutput(data) {
  if (!data || typeof data !== 'object') return
  if (data.type && data.type !== 'execute_output') return
  const id = data.tool_call_id || data.toolCallId || data.id
  const chunk = data.chunk ?? data.output ?? data.text ?? data.data
  if (!id || typeof chunk !== 'string') return
  const term = store.terminals[id] || (store.terminals[id] = { output: '', done: false })
  term.output += chunk
}
