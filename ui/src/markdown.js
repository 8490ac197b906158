// Markdown with highlighted code, sanitised: model output is untrusted text.
import { Marked, Renderer } from 'marked'
import DOMPurify from 'dompurify'
import hljs from 'highlight.js/lib/common'

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    code({ text, lang }) {
      const language = lang && hljs.getLanguage(lang) ? lang : null
      const html = language ? hljs.highlight(text, { language }).value : hljs.highlightAuto(text).value
      // The copy button is plain markup; ChatMessages handles its clicks (one listener for all).
      const label = escapeAttr(labels.copyCode)
      return `<div class="code-wrap"><button type="button" class="copy-code" data-testid="copy-code" aria-label="${label}" title="${label}">${label}</button><pre class="code-block"><code class="hljs">${html}</code></pre></div>`
    },
    // Task list boxes without <input> (forms and inputs are stripped from model output):
    // a read-only checkbox role that screen readers announce as checked or not.
    checkbox({ checked }) {
      return `<span class="task-box" role="checkbox" aria-checked="${!!checked}" aria-disabled="true">${checked ? '☑' : '☐'}</span>`
    },
    listitem(item) {
      const html = Renderer.prototype.listitem.call(this, item)
      return item.task ? html.replace('<li>', `<li class="task" data-checked="${!!item.checked}">`) : html
    },
  },
})

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer')
  }
})

const labels = { copyCode: 'Copy' }
const escapeAttr = (text) => String(text).replace(/[&"<>]/g, (c) => ({ '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;' })[c])

export function renderMarkdown(text, { copyLabel } = {}) {
  if (copyLabel) labels.copyCode = copyLabel
  return DOMPurify.sanitize(marked.parse(text || ''), { FORBID_TAGS: ['style', 'form', 'input'], FORBID_ATTR: ['style'] })
}

export function highlight(code, language) {
  const html = language && hljs.getLanguage(language) ? hljs.highlight(code, { language }).value : hljs.highlightAuto(code).value
  return DOMPurify.sanitize(html)
}
