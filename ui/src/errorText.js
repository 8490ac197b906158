// A server error worded in the client's language. The servers pass on an error as its type's
// name and its message only, so the model errors' types are codes (agent/model_errors.py) and
// their values are read from the server's fixed English sentences; anything else, or a
// sentence that does not match, is shown as the server wrote it.
import { i18n } from './i18n.js'

const patterns = {
  ModelTimeoutError: /within ([\d.e+-]+) s \(LLM_TIMEOUT\)/,
  ModelUnreachableError: /could not be reached: ([\s\S]*)$/,
  ModelRefusedError: /with HTTP (\d+)(?:: ([\s\S]*))?$/,
}

const texts = {
  en: {
    ModelTimeoutError: ([seconds]) => `The model endpoint did not answer within ${seconds} s (LLM_TIMEOUT).`,
    ModelUnreachableError: ([detail]) => `The model endpoint could not be reached: ${detail}`,
    ModelRefusedError: ([status, detail]) => `The model endpoint refused the request with HTTP ${status}${detail ? `: ${detail}` : ''}`,
  },
  zh: {
    ModelTimeoutError: ([seconds]) => `模型端点在 ${seconds} 秒内没有应答（LLM_TIMEOUT）。`,
    ModelUnreachableError: ([detail]) => `无法连接模型端点：${detail}`,
    ModelRefusedError: ([status, detail]) => `模型端点拒绝了请求，HTTP ${status}${detail ? `：${detail}` : ''}`,
  },
}

// `{error, message}` (stream events, saved task errors) or a saved `Type('message')` string.
function parts(error) {
  if (typeof error === 'string') {
    const repr = /^(\w+)\((['"])([\s\S]*)\2\)$/.exec(error)
    return repr ? { code: repr[1], message: repr[3] } : { code: '', message: error }
  }
  if (error && typeof error === 'object') {
    return { code: String(error.error || ''), message: String(error.message || error.error || JSON.stringify(error)) }
  }
  return { code: '', message: String(error ?? '') }
}

export function errorText(error) {
  const { code, message } = parts(error)
  const match = patterns[code]?.exec(message)
  const word = (texts[i18n.locale] || texts.en)[code]
  return match && word ? word(match.slice(1)) : message
}
